extension [UInt8] {
    /// Appends the string's UTF-8 bytes in one copy (`append(contentsOf: text.utf8)`
    /// goes byte by byte through the view's iterator).
    @inlinable
    public mutating func appendUTF8(_ text: String) {
        var text = text
        text.withUTF8 { append(contentsOf: $0) }
    }

    /// Appends `value` in decimal, zero-padded to `width` digits.
    @inlinable
    public mutating func appendDecimal(_ value: UInt64, width: Int = 1) {
        var divisor: UInt64 = 1
        var digits = 1
        while divisor <= value / 10 { divisor *= 10; digits += 1 }
        for _ in digits..<Swift.max(width, digits) { append(UInt8(ascii: "0")) }
        while divisor > 0 {
            append(UInt8(48 + (value / divisor) % 10))
            divisor /= 10
        }
    }
}

extension [UInt8] {
    /// Appends `text` as a JSON string: in quotes, with `"`, `\` and the control
    /// characters (below U+0020) escaped, everything else copied as UTF-8 (a
    /// Swift String is always valid UTF-8, so the result is valid JSON). The one
    /// escaping function of the API's answers (`JSONWriter`) and the log lines.
    @inlinable
    public mutating func appendJSONString(_ text: String) {
        var text = text
        text.withUTF8 { appendJSONString(utf8: $0) }
    }

    /// `appendJSONString` on UTF-8 bytes (valid UTF-8: a String's or a Substring's).
    /// The bytes up to the first one that needs an escape (most strings have
    /// none) are found eight at a time and copied whole.
    @inlinable
    public mutating func appendJSONString(utf8: UnsafeBufferPointer<UInt8>) {
        append(UInt8(ascii: "\""))
        var start = 0
        var index = JSONEscaping.firstEscape(utf8)
        while index < utf8.count {
            append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
            let byte = utf8[index]
            append(92)
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): append(byte)
            case 0x0A: append(UInt8(ascii: "n"))
            case 0x0D: append(UInt8(ascii: "r"))
            case 0x09: append(UInt8(ascii: "t"))
            default:
                append(UInt8(ascii: "u")); append(48); append(48)
                append(byte >> 4 == 0 ? 48 : 49)
                let low = byte & 0xF
                append(low < 10 ? 48 + low : 87 + low)
            }
            start = index + 1
            index = start
            while index < utf8.count, !JSONEscaping.needsEscape(utf8[index]) { index += 1 }
        }
        append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        append(UInt8(ascii: "\""))
    }

    /// Appends the bytes of a literal (one copy; `append(contentsOf: "...".utf8)`
    /// goes through String's generic path).
    @inlinable
    public mutating func appendStatic(_ text: StaticString) {
        append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// `appendJSONString` of a text made once (a label, a route's template): its bytes.
    @inlinable
    public static func jsonString(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendJSONString(text)
        return bytes
    }
}

/// The metadata key that makes a logger's messages members of a JSON object,
/// already escaped (`"message":"request","status":200`): a handler that writes
/// JSON lines (music-fcgi's) copies such a message into its line as it is, where
/// it would otherwise write `"message":` and the message as a string. Set once on
/// the logger (`logger[metadataKey: JSONLogMembers.metadataKey] = "on"`), so the
/// request line, built by appending bytes (docs/performance.md), costs no
/// metadata per event; another handler shows the members as the message.
public enum JSONLogMembers {
    public static let metadataKey = "json_members"
}

/// Which bytes a JSON string escapes: `"`, `\` and those below 0x20.
public enum JSONEscaping {
    @inlinable
    public static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// The index of the first byte that needs an escape, or `bytes.count`. Eight
    /// bytes at a time: a word has a byte below 0x20, or equal to `"` or `\`,
    /// when the classic "has a zero byte" test fires for it (never wrongly
    /// silent; a byte past a true hit may fire too, and the bytewise scan that
    /// follows finds the exact one).
    @inlinable
    public static func firstEscape(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        let count = bytes.count
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var index = 0
        while index + 8 <= count {
            let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
            let below = (word &- ones &* 0x20) & ~word & highs
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            let equal = ((quote &- ones) & ~quote | (backslash &- ones) & ~backslash) & highs
            if below | equal != 0 { break }
            index += 8
        }
        while index < count, !needsEscape(base[index]) { index += 1 }
        return index
    }

    /// Whether every byte is ASCII (below 0x80), eight at a time: bytes read from a
    /// database as they are (a track id of a page of members) are written as they
    /// are only when they are (`JSONWriter.string(utf8:)`).
    @inlinable
    public static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        var index = 0, high: UInt64 = 0
        while index + 8 <= bytes.count {
            high |= UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
            index += 8
        }
        while index < bytes.count {
            high |= UInt64(base[index])
            index += 1
        }
        return high & 0x8080_8080_8080_8080 == 0
    }
}
