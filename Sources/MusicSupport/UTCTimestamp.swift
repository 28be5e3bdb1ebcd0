/// UTC to the second in ISO 8601 with a `Z` (`2026-06-28T10:30:00Z`), without the
/// time zone database.
public enum UTCTimestamp {
    /// The length of the text: 20 ASCII bytes.
    public static let length = 20

    /// Writes the text of `secondsSince1970` into the first 20 bytes of `buffer`
    /// (years 0001 to 9999). Inlinable: every collection in a response has two of
    /// them, a page of members fifty. The date is computed from the day number
    /// (Howard Hinnant's `civil_from_days`, http://howardhinnant.github.io/date_algorithms.html),
    /// where `gmtime_r` took glibc's time zone lock and cost a page of members
    /// 30,000 instructions (docs/performance.md).
    @inlinable
    public static func write(_ secondsSince1970: Int64, into buffer: UnsafeMutableBufferPointer<UInt8>) {
        var memo = DateMemo()
        write(secondsSince1970, into: buffer, memo: &memo)
    }

    /// The text of the last day `write(_:into:memo:)` wrote, for a writer of many
    /// timestamps of few days (a page of members): the date is copied, not computed again.
    public struct DateMemo {
        @usableFromInline var day = Int64.min
        @usableFromInline var text: (UInt64, UInt16) = (0, 0)

        @inlinable public init() {}
    }

    /// `write(_:into:)`, the date (the first 10 bytes) copied from `memo` when its day is the same.
    @inlinable
    public static func write(_ secondsSince1970: Int64, into buffer: UnsafeMutableBufferPointer<UInt8>, memo: inout DateMemo) {
        precondition(buffer.count >= 20)
        let (days, second) = floorDivision(secondsSince1970, 86_400)
        @inline(__always) func two(_ value: Int64, at offset: Int) {
            buffer[offset] = UInt8(truncatingIfNeeded: 48 + value / 10)
            buffer[offset + 1] = UInt8(truncatingIfNeeded: 48 + value % 10)
        }
        let raw = UnsafeMutableRawPointer(buffer.baseAddress!)
        if days == memo.day {
            raw.storeBytes(of: memo.text.0, as: UInt64.self)
            raw.storeBytes(of: memo.text.1, toByteOffset: 8, as: UInt16.self)
        } else {
            let (year, month, day) = civil(days: days)
            two(year / 100, at: 0)
            two(year % 100, at: 2)
            two(month, at: 5)
            two(day, at: 8)
            buffer[4] = UInt8(ascii: "-"); buffer[7] = UInt8(ascii: "-")
            memo.day = days
            memo.text = (raw.loadUnaligned(as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
        }
        two(second / 3_600, at: 11)
        two(second / 60 % 60, at: 14)
        two(second % 60, at: 17)
        buffer[10] = UInt8(ascii: "T"); buffer[13] = UInt8(ascii: ":"); buffer[16] = UInt8(ascii: ":"); buffer[19] = UInt8(ascii: "Z")
    }

    /// `value / divisor` rounded down, and the remainder (never negative).
    @inlinable
    static func floorDivision(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let quotient = value / divisor - (value % divisor < 0 ? 1 : 0)
        return (quotient, value - quotient * divisor)
    }

    /// The proleptic Gregorian date of day `days` (0 is 1970-01-01).
    @inlinable
    static func civil(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468  // days since 0000-03-01
        let era = floorDivision(z, 146_097).quotient
        let dayOfEra = z - era * 146_097  // 0...146096
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365  // 0...399
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // 0...365, from March 1
        let shiftedMonth = (5 * dayOfYear + 2) / 153  // 0...11, March is 0
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// The text as a String.
    @inlinable
    public static func string(_ secondsSince1970: Int64) -> String {
        String(unsafeUninitializedCapacity: 20) { buffer in
            write(secondsSince1970, into: buffer)
            return 20
        }
    }

    /// Appends the text in quotes, a JSON string (it needs no escape).
    @inlinable
    public static func appendJSON(_ secondsSince1970: Int64, to bytes: inout [UInt8]) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "\""), count: length + 2))
        bytes.withUnsafeMutableBufferPointer { all in
            write(secondsSince1970, into: UnsafeMutableBufferPointer(rebasing: all[(start + 1)...]))
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
