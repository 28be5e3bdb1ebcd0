/// HTML output, safe by construction: `HTML.escape` is the one escaping
/// function, and `HTMLWriter` takes markup only as compile-time literals, so
/// every value from the database (or the request) reaches a page through it.
enum HTML {
    /// Appends `text` to `bytes` with `&`, `<`, `>`, `"` and `'` written as
    /// character references: safe in element text and in any quoted attribute
    /// value. NUL, which HTML forbids, becomes U+FFFD.
    static func escape(_ text: String, into bytes: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "&"): bytes.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): bytes.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): bytes.append(contentsOf: "&gt;".utf8)
            case UInt8(ascii: "\""): bytes.append(contentsOf: "&quot;".utf8)
            case UInt8(ascii: "'"): bytes.append(contentsOf: "&#39;".utf8)
            case 0: bytes.append(contentsOf: [0xEF, 0xBF, 0xBD])
            default: bytes.append(byte)
            }
        }
    }

    /// `escape(_:into:)` as a String.
    static func escape(_ text: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        escape(text, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Builds a page: markup as literals (`markup`), every other value escaped
/// (`text`, `number`). There is no way to append a run-time String unescaped.
struct HTMLWriter {
    private(set) var bytes: [UInt8]

    init(capacity: Int = 4096) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Trusted markup: only a literal in the source can be one.
    mutating func markup(_ literal: StaticString) {
        literal.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// A value, in text or inside a double-quoted attribute.
    mutating func text(_ value: String) {
        HTML.escape(value, into: &bytes)
    }

    mutating func number(_ value: Int) {
        bytes.append(contentsOf: String(value).utf8)
    }
}
