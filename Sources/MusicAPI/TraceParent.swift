import HTTPTypes

/// A client's W3C Trace Context `traceparent` header (https://www.w3.org/TR/trace-context/),
/// read only to log its trace-id beside the request's own trace id. Version 00 only:
/// `00-` + trace-id (32 lowercase hex digits, not all zeros) + `-` + parent-id (16,
/// not all zeros) + `-` + trace-flags (2), 55 characters in all. Anything else is
/// ignored, as the specification asks of a value it cannot parse; nginx's
/// `$music_w3c_trace_id` (nginx/music-common.conf) accepts the same values.
package enum TraceParent {
    static let field = HTTPField.Name("traceparent")!

    /// The trace-id of a well-formed version-00 `traceparent` value, else nil.
    package static func traceID(_ value: String) -> String? {
        var value = value
        return value.withUTF8 { bytes -> String? in
            guard bytes.count == 55, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "0"),
                  bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-") else {
                return nil
            }
            func lowercaseHex(_ range: Range<Int>) -> Bool {
                bytes[range].allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
            }
            func allZeros(_ range: Range<Int>) -> Bool {
                bytes[range].allSatisfy { $0 == UInt8(ascii: "0") }
            }
            guard lowercaseHex(3..<35), lowercaseHex(36..<52), lowercaseHex(53..<55),
                  !allZeros(3..<35), !allZeros(36..<52) else {
                return nil
            }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[3..<35]), as: UTF8.self)
        }
    }

    /// The trace-id of the request's `traceparent`, when it has one well-formed
    /// field (several are joined by commas on their way here, and so refused).
    static func traceID(of request: HTTPRequest) -> String? {
        guard let value = request.headerFields.value(field) else { return nil }
        return traceID(value)
    }
}
