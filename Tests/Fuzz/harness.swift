// libFuzzer harness for the parsers that see raw client input first: the request
// target (path segments, percent-decoding, query parameters), the JSON body
// parser and the field rules (code-point lengths, control characters, URLs). Built apart from SwiftPM, which
// cannot link an executable target with -sanitize=fuzzer (see deploy/fuzz).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    let target = RequestTarget(text)
    if let segments = target.segments {
        // Decoded segments are never empty, never a dot segment, and never hold a separator.
        precondition(!segments.contains(""), "empty segment from \(text.debugDescription)")
        precondition(!segments.contains(".") && !segments.contains(".."), "dot segment from \(text.debugDescription)")
        precondition(!segments.contains { $0.contains("/") || $0.contains("\\") }, "separator in a segment from \(text.debugDescription)")
    }
    for name in ["limit", "offset", "collection_id", ""] { _ = target.query(name) }
    _ = try? CollectionRules.checkName(text)
    _ = try? CollectionRules.checkDescription(text)
    _ = try? CollectionRules.checkCoverImageURL(text)
    _ = try? CollectionRules.checkTrackReference(text, field: "track_id")
    if let value = JSONValue.parse(Array(bytes)) {
        // What parses, written out again, parses to the same value.
        let again = JSONValue.parse(Array(serialize(value).utf8))
        precondition(again == value, "round trip changed \(text.debugDescription)")
    }
    return 0
}

/// JSON text for `value`, escaping what must be escaped.
func serialize(_ value: JSONValue) -> String {
    switch value {
    case .null: return "null"
    case .bool(let flag): return flag ? "true" : "false"
    case .number(let number): return "\(number)"
    case .string(let string): return quote(string)
    case .array(let elements): return "[" + elements.map(serialize).joined(separator: ",") + "]"
    case .object(let members): return "{" + members.map { quote($0.key) + ":" + serialize($0.value) }.joined(separator: ",") + "}"
    }
}

func quote(_ string: String) -> String {
    var out = "\""
    for scalar in string.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where scalar.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
