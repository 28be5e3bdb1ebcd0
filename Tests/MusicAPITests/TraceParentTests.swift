import MusicAPI
import Testing

@Suite("W3C traceparent: only a well-formed version-00 value is read")
struct TraceParentTests {
    static let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let valid = "00-\(traceID)-00f067aa0ba902b7-01"

    @Test("a well-formed value gives its trace-id, whatever its flags")
    func wellFormed() {
        #expect(TraceParent.traceID(Self.valid) == Self.traceID)
        #expect(TraceParent.traceID("00-\(Self.traceID)-00f067aa0ba902b7-00") == Self.traceID)
        #expect(TraceParent.traceID("00-\(Self.traceID)-00f067aa0ba902b7-ff") == Self.traceID)
        #expect(TraceParent.traceID("00-00000000000000000000000000000001-0000000000000001-01")
                == "00000000000000000000000000000001")
    }

    @Test("each malformation is ignored", arguments: [
        ("empty", ""),
        ("version 01", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("version 00 with more after it", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"),
        ("trace-id all zeros", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
        ("parent-id all zeros", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
        ("uppercase trace-id", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
        ("uppercase parent-id", "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"),
        ("uppercase flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A"),
        ("non-hex trace-id", "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"),
        ("non-hex parent-id", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01"),
        ("non-hex flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x"),
        ("short trace-id", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"),
        ("long trace-id", "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01"),
        ("short parent-id", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01"),
        ("one-digit flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"),
        ("no flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"),
        ("underscores for dashes", "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01"),
        ("blanks around it", " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 "),
        ("two values joined", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01, 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("a quote inside", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\""),
        ("non-ASCII", "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01"),
    ])
    func malformed(_ named: (String, String)) {
        #expect(TraceParent.traceID(named.1) == nil, "\(named.0)")
    }
}
