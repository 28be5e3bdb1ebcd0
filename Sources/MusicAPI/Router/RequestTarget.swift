/// The request target split into decoded path segments and query parameters.
struct RequestTarget {
    /// The path as sent, without the query.
    let rawPath: Substring
    private let rawQuery: Substring

    /// Works on the UTF-8 bytes: `Character`-wise searching and splitting runs
    /// grapheme breaking over every byte of every request (docs/performance.md).
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

    /// How the path reads, segment by segment.
    enum Path: Equatable {
        /// The segments, each percent-decoded once: as nginx reads `$uri` (it
        /// files a request under a location by its decoded path), so both send
        /// the same request to the same place.
        case segments([String])
        /// Not a path (no leading "/", an empty segment, a bad escape, invalid
        /// UTF-8): no route matches it.
        case malformed
        /// A segment that is "." or ".." (written raw or percent-encoded), or
        /// that holds a slash or backslash (raw or decoded): read one way here
        /// and another by whatever resolves dot segments or decodes further,
        /// so refused outright.
        case ambiguous
    }

    /// The path split and decoded: on use (once, by the router), since a read
    /// answered from the cache is never routed.
    var path: Path { Self.path(of: rawPath) }

    /// The decoded segments, `nil` for a malformed or ambiguous path.
    var segments: [String]? {
        if case .segments(let segments) = path { return segments }
        return nil
    }

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

    /// The first value of query parameter `name`, percent-decoded. On the
    /// query's bytes: a name without escapes (nearly all) is compared as bytes,
    /// and only the value asked for becomes a String (splitting into Substrings
    /// and decoding every name cost 5,000 instructions a parameter: docs/performance.md).
    func query(_ name: String) -> String? {
        var query = rawQuery
        var wantedName = name
        return query.withUTF8 { bytes in
            wantedName.withUTF8 { wanted in
                var start = 0
                while start < bytes.count {
                    var end = start
                    while end < bytes.count, bytes[end] != UInt8(ascii: "&") { end += 1 }
                    defer { start = end + 1 }
                    guard end > start else { continue }
                    let pair = UnsafeBufferPointer(rebasing: bytes[start..<end])
                    let equals = pair.firstIndex(of: UInt8(ascii: "="))
                    let key = UnsafeBufferPointer(rebasing: pair[..<(equals ?? pair.count)])
                    guard Self.decodedEquals(key, wanted, name) else { continue }
                    guard let equals else { return "" }
                    return Self.percentDecoded(UnsafeBufferPointer(rebasing: pair[(equals + 1)...]), plusIsSpace: true) ?? "\u{FFFD}"
                }
                return nil
            }
        }
    }

    /// Whether the query name `raw` decodes to `name` (its bytes: `wanted`). Plain
    /// ASCII compares as bytes; anything else as Strings, as it always did
    /// (String equality is canonical equivalence).
    private static func decodedEquals(_ raw: UnsafeBufferPointer<UInt8>, _ wanted: UnsafeBufferPointer<UInt8>, _ name: String) -> Bool {
        guard raw.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") || $0 >= 0x80 }) else {
            return raw.elementsEqual(wanted)
        }
        return percentDecoded(raw, plusIsSpace: true) == name
    }

    /// `percentDecoded` of valid UTF-8 bytes (a slice of the target).
    private static func percentDecoded(_ bytes: UnsafeBufferPointer<UInt8>, plusIsSpace: Bool) -> String? {
        guard bytes.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return String(decoding: bytes, as: UTF8.self)
        }
        return percentDecoded(Substring(decoding: bytes, as: UTF8.self), plusIsSpace: plusIsSpace)
    }

    /// On the path's contiguous UTF-8 bytes: a segment without escapes (nearly
    /// all) becomes a String straight from its bytes, without Substring searching
    /// and slicing (docs/performance.md).
    private static func path(of path: Substring) -> Path {
        var path = path
        return path.withUTF8 { bytes -> Path in
            guard bytes.first == UInt8(ascii: "/") else { return .malformed }
            var segments: [String] = []
            segments.reserveCapacity(6)
            var start = 1
            while true {
                var end = start
                var escaped = false
                while end < bytes.count, bytes[end] != UInt8(ascii: "/") {
                    if bytes[end] == UInt8(ascii: "%") { escaped = true }
                    if bytes[end] == UInt8(ascii: "\\") { return .ambiguous }
                    end += 1
                }
                guard start < end else { return .malformed }
                let segment = UnsafeBufferPointer(rebasing: bytes[start..<end])
                let text: String
                if escaped {
                    guard let decoded = percentDecoded(Substring(String(decoding: segment, as: UTF8.self)), plusIsSpace: false) else {
                        return .malformed
                    }
                    if decoded.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "\\") }) { return .ambiguous }
                    text = decoded
                } else {
                    // The target is a String, so its bytes between two "/" are valid UTF-8.
                    text = String(decoding: segment, as: UTF8.self)
                }
                if isDotSegment(text) { return .ambiguous }
                segments.append(text)
                if end == bytes.count { return .segments(segments) }
                start = end + 1
            }
        }
    }

    private static func isDotSegment(_ segment: String) -> Bool {
        let utf8 = segment.utf8
        return (utf8.count == 1 || utf8.count == 2) && utf8.allSatisfy { $0 == UInt8(ascii: ".") }
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
