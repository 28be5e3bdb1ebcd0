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
    @inlinable
    public mutating func appendJSONString(utf8: UnsafeBufferPointer<UInt8>) {
        append(UInt8(ascii: "\""))
        // Most strings (ids, timestamps, names, routes) need no escape: copied whole.
        guard utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
            append(contentsOf: utf8)
            append(UInt8(ascii: "\""))
            return
        }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\""): append(92); append(34)
            case UInt8(ascii: "\\"): append(92); append(92)
            case 0x0A: append(92); append(UInt8(ascii: "n"))
            case 0x0D: append(92); append(UInt8(ascii: "r"))
            case 0x09: append(92); append(UInt8(ascii: "t"))
            case 0..<0x20:
                append(92); append(UInt8(ascii: "u")); append(48); append(48)
                append(byte >> 4 == 0 ? 48 : 49)
                let low = byte & 0xF
                append(low < 10 ? 48 + low : 87 + low)
            default: append(byte)
            }
        }
        append(UInt8(ascii: "\""))
    }
}

/// Members of a JSON object, already escaped (`"status":200,"route":"/v1/..."`),
/// handed as log metadata to a handler that writes JSON lines: it copies them
/// into its line as they are, where it would quote any other value as a string.
/// Lets the request line be built by appending bytes (docs/performance.md).
public struct JSONLogFields: CustomStringConvertible, Sendable {
    public var members: [UInt8]

    @inlinable
    public init(members: [UInt8]) { self.members = members }

    /// The members as one JSON object, for any other handler.
    public var description: String { "{" + String(decoding: members, as: UTF8.self) + "}" }
}
