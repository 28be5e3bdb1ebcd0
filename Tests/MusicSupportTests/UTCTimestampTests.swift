import MusicSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `UTCTimestamp` computes the date from the day number; glibc's `gmtime_r` is
/// the reference it must agree with, second for second.
@Suite("UTC timestamps against gmtime_r")
struct UTCTimestampTests {
    /// What the formatting gave with `gmtime_r`.
    static func reference(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func digits(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(digits(parts.tm_year + 1900, 4))-\(digits(parts.tm_mon + 1, 2))-\(digits(parts.tm_mday, 2))T"
            + "\(digits(parts.tm_hour, 2)):\(digits(parts.tm_min, 2)):\(digits(parts.tm_sec, 2))Z"
    }

    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years four digits hold.
    static let first: Int64 = -62_135_596_800
    static let last: Int64 = 253_402_300_799

    @Test("the edges of days, months, leap years and centuries, before and after 1970")
    func edges() {
        var cases: [Int64] = [Self.first, Self.last, -1, 0, 1, 86_399, 86_400, -86_400, -86_401]
        // Around midnight of March 1 and of January 1 in years around the 400-, 100- and 4-year rules.
        for year in [1, 4, 100, 1600, 1700, 1900, 1969, 1970, 1972, 2000, 2024, 2038, 2100, 2400, 9999] {
            var parts = tm()
            parts.tm_year = Int32(year - 1900)
            for (month, day) in [(0, 1), (1, 28), (1, 29), (2, 1), (11, 31)] {
                parts.tm_mon = Int32(month)
                parts.tm_mday = Int32(day)
                let midnight = Int64(timegm(&parts))
                cases += [midnight - 1, midnight, midnight + 1, midnight + 86_399]
            }
        }
        for seconds in cases where seconds >= Self.first && seconds <= Self.last {
            #expect(UTCTimestamp.string(seconds) == Self.reference(seconds), "\(seconds)")
        }
    }

    @Test("200,000 seconds drawn from years 1 to 9999 (seeded)")
    func drawn() {
        var generator = SplitMix64(seed: 19)
        for _ in 0..<200_000 {
            let seconds = Self.first + Int64(generator.next() % UInt64(Self.last - Self.first + 1))
            let text = UTCTimestamp.string(seconds)
            guard text == Self.reference(seconds) else {
                Issue.record("\(seconds): \(text), gmtime_r says \(Self.reference(seconds))")
                return
            }
        }
    }

    @Test("one memo over a run of seconds (same day, next day, back, before 1970) writes what gmtime_r says")
    func memoizedDates() {
        var generator = SplitMix64(seed: 23)
        var memo = UTCTimestamp.DateMemo()
        var buffer = [UInt8](repeating: 0, count: 20)
        var seconds: Int64 = -86_400 * 3
        for step in 0..<20_000 {
            // Mostly a few seconds on, sometimes a day or two either way: the memo's
            // day is reused, replaced, and reused again after a change.
            switch generator.next() % 8 {
            case 0: seconds += 86_400 + Int64(generator.next() % 86_400)
            case 1: seconds -= 86_400 + Int64(generator.next() % 86_400)
            default: seconds += Int64(generator.next() % 600)
            }
            buffer.withUnsafeMutableBufferPointer { UTCTimestamp.write(seconds, into: $0, memo: &memo) }
            guard String(decoding: buffer, as: UTF8.self) == Self.reference(seconds) else {
                Issue.record("step \(step), \(seconds): \(String(decoding: buffer, as: UTF8.self)), gmtime_r says \(Self.reference(seconds))")
                return
            }
        }
    }

    @Test("appendJSON writes the same text in quotes after what the buffer holds")
    func json() {
        var bytes = Array("x:".utf8)
        UTCTimestamp.appendJSON(1_782_642_600, to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "x:\"2026-06-28T10:30:00Z\"")
    }
}

/// A small seeded generator (SplitMix64), so a failure repeats.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
