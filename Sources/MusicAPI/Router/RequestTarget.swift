/// The request target split into decoded path segments and query parameters.
struct RequestTarget {
    /// The path as sent, without the query: what the log shows.
    let rawPath: Substring
    private let rawQuery: Substring

    /// Works on the UTF-8 bytes: `Character`-wise searching and splitting (grapheme
    /// breaking) made this a sixth of the instructions of a health request.
    init(_ target: String) {
        let utf8 = target.utf8
        if let question = utf8.firstIndex(of: UInt8(ascii: "?")) {
            rawPath = target[..<question]
            rawQuery = target[utf8.index(after: question)...]
        } else {
            rawPath = target[...]
            rawQuery = ""
        }
    }

    /// Percent-decoded segments; `nil` when the path is not valid (bad escapes,
    /// empty segments, invalid UTF-8), which no route matches. Split on use (once,
    /// by the router): a read answered from the cache is never routed.
    var segments: [String]? { Self.segments(of: rawPath) }

    /// Whether the path has at least `count` segments, by its slashes (without
    /// splitting it).
    func hasSegments(atLeast count: Int) -> Bool {
        var path = rawPath
        return path.withUTF8 { bytes in
            var slashes = 0
            for byte in bytes where byte == UInt8(ascii: "/") {
                slashes += 1
                if slashes >= count { return true }
            }
            return false
        }
    }

    /// The path for logs: a share token is a secret, so it never reaches a log.
    var loggablePath: Substring {
        var path = rawPath
        let shared: StaticString = "/v1/music/shared/"
        let isShared = path.withUTF8 { $0.starts(with: UnsafeBufferPointer(start: shared.utf8Start, count: shared.utf8CodeUnitCount)) }
        return isShared ? "/v1/music/shared/[token]" : rawPath
    }

    /// The first value of query parameter `name`, percent-decoded.
    func query(_ name: String) -> String? {
        for pair in rawQuery.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let pair = Substring(pair)
            let equals = pair.utf8.firstIndex(of: UInt8(ascii: "="))
            guard let key = Self.percentDecoded(pair[..<(equals ?? pair.endIndex)], plusIsSpace: true), key == name else { continue }
            guard let equals else { return "" }
            return Self.percentDecoded(pair[pair.utf8.index(after: equals)...], plusIsSpace: true) ?? "\u{FFFD}"
        }
        return nil
    }

    /// On the path's contiguous UTF-8 bytes: a segment without escapes (nearly
    /// all) becomes a String straight from its bytes (Substring searching and
    /// slicing cost 1,500 instructions a segment).
    private static func segments(of path: Substring) -> [String]? {
        var path = path
        return path.withUTF8 { bytes -> [String]? in
            guard bytes.first == UInt8(ascii: "/") else { return nil }
            var segments: [String] = []
            segments.reserveCapacity(6)
            var start = 1
            while true {
                var end = start
                var escaped = false
                while end < bytes.count, bytes[end] != UInt8(ascii: "/") {
                    if bytes[end] == UInt8(ascii: "%") { escaped = true }
                    end += 1
                }
                guard start < end else { return nil }
                let segment = UnsafeBufferPointer(rebasing: bytes[start..<end])
                if escaped {
                    guard let decoded = percentDecoded(Substring(String(decoding: segment, as: UTF8.self)), plusIsSpace: false) else { return nil }
                    segments.append(decoded)
                } else {
                    // The target is a String, so its bytes between two "/" are valid UTF-8.
                    segments.append(String(decoding: segment, as: UTF8.self))
                }
                if end == bytes.count { return segments }
                start = end + 1
            }
        }
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
