/// The request target split into decoded path segments and query parameters.
struct RequestTarget {
    /// The path as sent, without the query: what the log shows.
    let rawPath: Substring
    /// Percent-decoded segments; `nil` when the path is not valid (bad escapes,
    /// empty segments, invalid UTF-8), which no route matches.
    let segments: [String]?
    private let rawQuery: Substring

    init(_ target: String) {
        if let question = target.firstIndex(of: "?") {
            rawPath = target[..<question]
            rawQuery = target[target.index(after: question)...]
        } else {
            rawPath = target[...]
            rawQuery = ""
        }
        segments = Self.segments(of: rawPath)
    }

    /// The path for logs: a share token is a secret, so it never reaches a log.
    var loggablePath: Substring {
        rawPath.hasPrefix("/v1/music/shared/") ? "/v1/music/shared/[token]" : rawPath
    }

    /// The first value of query parameter `name`, percent-decoded.
    func query(_ name: String) -> String? {
        for pair in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = Self.percentDecoded(parts[0], plusIsSpace: true), key == name else { continue }
            return parts.count > 1 ? (Self.percentDecoded(parts[1], plusIsSpace: true) ?? "\u{FFFD}") : ""
        }
        return nil
    }

    private static func segments(of path: Substring) -> [String]? {
        guard path.first == "/" else { return nil }
        let parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        var segments: [String] = []
        segments.reserveCapacity(parts.count)
        for part in parts {
            guard !part.isEmpty, let decoded = percentDecoded(part, plusIsSpace: false) else { return nil }
            segments.append(decoded)
        }
        return segments
    }

    static func percentDecoded(_ text: Substring, plusIsSpace: Bool) -> String? {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return String(text)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            } else if plusIsSpace && byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: return byte - 48
        case 65...70: return byte - 55
        case 97...102: return byte - 87
        default: return nil
        }
    }
}
