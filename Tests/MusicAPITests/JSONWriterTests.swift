import MusicCore
@testable import MusicAPI
import Testing

/// `JSONWriter` keeps one comma flag for every level of nesting and writes
/// integers and timestamps in place: the text must stay what a per-level stack
/// of flags and `String(value)` gave, and parse back to what was written.
@Suite("The JSON writer")
struct JSONWriterTests {
    @Test("commas between members and elements at every depth, none after an opening or a key, empty containers")
    func nesting() {
        var json = JSONWriter()
        json.beginObject()
        json.key("a"); json.int(1)
        json.key("empty_object"); json.beginObject(); json.endObject()
        json.key("empty_array"); json.beginArray(); json.endArray()
        json.key("items")
        json.beginArray()
        json.beginObject(); json.key("x"); json.int(-7); json.key("y"); json.beginArray(); json.int(0); json.endArray(); json.endObject()
        json.beginObject(); json.endObject()
        json.beginArray(); json.beginArray(); json.endArray(); json.null(); json.endArray()
        json.string("s")
        json.endArray()
        json.key("map"); json.object(["b": "2", "a": "1"])
        json.key("after"); json.bool(false)
        json.endObject()
        let text = String(decoding: json.bytes, as: UTF8.self)
        #expect(text == #"{"a":1,"empty_object":{},"empty_array":[],"items":[{"x":-7,"y":[0]},{},[[],null],"s"],"#
            + #""map":{"a":"1","b":"2"},"after":false}"#)
        #expect(JSONValue.parse(json.bytes) != nil)
    }

    @Test("integers as String(value) gives them, from Int.min to Int.max")
    func integers() {
        for value in [0, 1, -1, 9, 10, -10, 99, 100, 12_345, -12_345, Int(Int32.max), Int.max, Int.min, Int.min + 1] {
            var json = JSONWriter()
            json.int(value)
            #expect(String(decoding: json.bytes, as: UTF8.self) == String(value))
        }
    }

    @Test("a timestamp is its iso8601 text as a JSON string; nil is null")
    func timestamps() {
        var json = JSONWriter()
        json.beginArray()
        json.timestamp(Timestamp(secondsSince1970: 1_782_642_600))
        json.timestamp(Timestamp?.none)
        json.timestamp(Timestamp(secondsSince1970: 0))
        json.endArray()
        #expect(String(decoding: json.bytes, as: UTF8.self) == #"["2026-06-28T10:30:00Z",null,"1970-01-01T00:00:00Z"]"#)
    }

    @Test("timestamps of many days in one writer: each its own date (the writer keeps the last day's)")
    func timestampsAcrossDays() {
        let seconds: [Int64] = [1_782_642_600, 1_782_642_601, 1_782_729_000, 1_782_642_600, -1, 0, 1_782_729_000]
        var json = JSONWriter()
        json.beginArray()
        for value in seconds { json.timestamp(Timestamp(secondsSince1970: value)) }
        json.endArray()
        let expected = "[" + seconds.map { "\"\(Timestamp(secondsSince1970: $0).iso8601)\"" }.joined(separator: ",") + "]"
        #expect(String(decoding: json.bytes, as: UTF8.self) == expected)
        #expect(expected.contains("2026-06-29T10:30:00Z") && expected.contains("1969-12-31T23:59:59Z"))
    }

    @Test("a string given as UTF-8 is written as the same String would be, escapes included")
    func utf8Strings() {
        for text in ["mtrack_8d2e1f6a3c9b", "", "a\"b\\c\u{1}\n", "ünïcødé ♫ \u{1F3B5}", String(repeating: "x", count: 300)] {
            var fromString = JSONWriter(capacity: 1)
            fromString.beginArray(); fromString.string(text); fromString.int(1); fromString.endArray()
            var fromBytes = JSONWriter(capacity: 1)
            fromBytes.beginArray()
            Array(text.utf8).withUnsafeBufferPointer { fromBytes.string(utf8: $0) }
            fromBytes.int(1); fromBytes.endArray()
            #expect(fromBytes.bytes == fromString.bytes, "\(text)")
            #expect(JSONValue.parse(fromBytes.bytes) != nil, "\(text)")
        }
        // Bytes that are not UTF-8 (SQLite keeps what a TEXT column is given) are
        // repaired as String(decoding:) repairs them, never written as they are.
        for bytes: [UInt8] in [[0x61, 0xFF, 0x62], [0xC3], [0x6D, 0xE2, 0x99], Array("mtrack_0000000000\u{FF}".utf8.dropLast())] {
            var json = JSONWriter()
            json.beginArray()
            bytes.withUnsafeBufferPointer { json.string(utf8: $0) }
            json.endArray()
            let repaired = String(decoding: bytes, as: UTF8.self)
            #expect(json.bytes == Array("[\"\(repaired)\"]".utf8), "\(bytes)")
            #expect(repaired.unicodeScalars.contains("\u{FFFD}"))
        }
    }

    @Test("a buffer grows past its first capacity, many times over")
    func grows() {
        var long = JSONWriter(capacity: 1)
        long.beginArray()
        for index in 0..<1_000 { long.string(String(repeating: "x", count: index % 40)); long.string("a\"b\u{1}") }
        long.endArray()
        #expect(JSONValue.parse(long.bytes) != nil)
        #expect(long.bytes.count > 20_000)
    }
}
