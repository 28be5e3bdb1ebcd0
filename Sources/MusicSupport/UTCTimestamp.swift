#if canImport(Glibc)
import Glibc
#endif

/// UTC to the second in ISO 8601 with a `Z` (`2026-06-28T10:30:00Z`), without the
/// time zone database.
public enum UTCTimestamp {
    /// The length of the text: 20 ASCII bytes.
    public static let length = 20

    /// Writes the text of `secondsSince1970` into the first 20 bytes of `buffer`.
    /// Inlinable: every collection in a response has two of them.
    @inlinable
    public static func write(_ secondsSince1970: Int64, into buffer: UnsafeMutableBufferPointer<UInt8>) {
        precondition(buffer.count >= 20)
        var time = time_t(secondsSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
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
    }

    /// The text as a String.
    @inlinable
    public static func string(_ secondsSince1970: Int64) -> String {
        String(unsafeUninitializedCapacity: 20) { buffer in
            write(secondsSince1970, into: buffer)
            return 20
        }
    }

    /// The text as bytes.
    @inlinable
    public static func bytes(_ secondsSince1970: Int64) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 20) { buffer, count in
            write(secondsSince1970, into: buffer)
            count = 20
        }
    }
}
