// libFuzzer harness for the parsers that see raw client input first: the request
// target (path segments, percent-decoding, query parameters) and the field rules
// (code-point lengths, control characters, URLs). Built apart from SwiftPM, which
// cannot link an executable target with -sanitize=fuzzer (see deploy/fuzz).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    let target = RequestTarget(text)
    if let segments = target.segments {
        // Decoded segments never contain an empty one and never the separator they came from.
        precondition(!segments.contains(""), "empty segment from \(text.debugDescription)")
    }
    for name in ["limit", "offset", "collection_id", ""] { _ = target.query(name) }
    _ = target.loggablePath
    _ = try? CollectionRules.checkName(text)
    _ = try? CollectionRules.checkDescription(text)
    _ = try? CollectionRules.checkCoverImageURL(text)
    _ = try? CollectionRules.checkTrackReference(text, field: "track_id")
    return 0
}
