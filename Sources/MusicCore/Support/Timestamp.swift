#if canImport(Glibc)
import Glibc
#endif

/// A UTC instant to the second, as the API shows it: `2026-06-28T10:30:00Z`.
public struct Timestamp: Hashable, Comparable, Sendable {
    public var secondsSince1970: Int64

    public init(secondsSince1970: Int64) {
        self.secondsSince1970 = secondsSince1970
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.secondsSince1970 < rhs.secondsSince1970
    }

    /// ISO 8601 in UTC with a `Z`: `2026-06-28T10:30:00Z` (20 ASCII bytes).
    public var iso8601: String {
        var time = time_t(secondsSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(unsafeUninitializedCapacity: 20) { buffer in
            func put(_ value: Int32, _ digits: Int, at offset: Int) {
                var value = value
                for index in stride(from: offset + digits - 1, through: offset, by: -1) {
                    buffer[index] = UInt8(48 + value % 10)
                    value /= 10
                }
            }
            put(parts.tm_year + 1900, 4, at: 0)
            put(parts.tm_mon + 1, 2, at: 5)
            put(parts.tm_mday, 2, at: 8)
            put(parts.tm_hour, 2, at: 11)
            put(parts.tm_min, 2, at: 14)
            put(parts.tm_sec, 2, at: 17)
            buffer[4] = UInt8(ascii: "-"); buffer[7] = UInt8(ascii: "-"); buffer[10] = UInt8(ascii: "T")
            buffer[13] = UInt8(ascii: ":"); buffer[16] = UInt8(ascii: ":"); buffer[19] = UInt8(ascii: "Z")
            return 20
        }
    }
}

/// Where the time comes from; tests inject a fixed or stepping clock.
public protocol Clock: Sendable {
    func now() -> Timestamp
}

/// The system's wall clock.
public struct SystemClock: Clock {
    public init() {}

    public func now() -> Timestamp {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Timestamp(secondsSince1970: Int64(now.tv_sec))
    }
}
