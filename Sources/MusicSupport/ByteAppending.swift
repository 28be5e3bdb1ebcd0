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
