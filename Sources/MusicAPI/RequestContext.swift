import HTTPTypes
import MusicCore

/// One request as the handlers see it.
struct RequestContext {
    let request: HTTPRequest
    let body: [UInt8]
    let target: RequestTarget
    /// `req_` + the web server's request id: in the envelope, the header and the log.
    let traceID: String
    /// Set once the caller is authenticated, for the log line.
    var userID: String?
    /// The route that took the request, for the log line (its template, never
    /// the path: see `MusicAPI.log`); `nil` while no route took it.
    var route: Route?
    /// Whether the answer already holds the fields `MusicAPI.annotate` adds (a kept one).
    var answerAnnotated = false
    /// A GET the read cache did not answer: the entry's key and the change stamp
    /// read before routing (see `MusicAPI.readCacheProbe`).
    var readCacheMiss: (key: String, stamp: Int64)?
    /// What the request is counted under, once routing (or the read cache) found
    /// its route; `nil`: no route took it (`HTTPMetrics.unmatched`).
    var metrics: HTTPMetrics.Row?
    /// The body parsed ahead of the transaction (`parseBodyAhead`).
    private var parsedBody: Result<JSONBody, any Error>?

    init(request: HTTPRequest, body: [UInt8]) {
        self.request = request
        self.body = body
        target = RequestTarget(request.path ?? "/")
        traceID = "req_" + (request.headerFields.value(.requestID) ?? "unknown")
    }

    /// The raw key from `X-API-Key`, else from `Authorization: Bearer`.
    var apiKey: String? {
        if let key = request.headerFields.value(.apiKey) { return key }
        guard let authorization = request.headerFields.value(.authorization) else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1]).trimmingCharacters(in: " \t")
    }

    /// The `Idempotency-Key` header: at most 255 characters, not empty.
    func idempotencyKey() throws -> String? {
        guard let key = request.headerFields.value(.idempotencyKey) else { return nil }
        guard !key.isEmpty, key.unicodeScalars.count <= IdempotencyRecord.maximumKeyLength else {
            throw APIError.validation(field: "Idempotency-Key", reason: "Idempotency-Key must be 1 to 255 characters")
        }
        return key
    }

    /// Whether the declared media type is JSON (`application/json`, any parameters).
    var hasJSONContentType: Bool {
        guard let value = request.headerFields.value(.contentType) else { return false }
        return Self.isJSONMediaType(value)
    }

    /// Whether a Content-Type value names `application/json` (any case, blanks
    /// around it, any parameters after a `;`). On the UTF-8 bytes: splitting,
    /// trimming and lowercasing Strings cost more than the rest of the header
    /// handling of a write (docs/performance.md).
    static func isJSONMediaType(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { bytes in
            var end = bytes.firstIndex(of: UInt8(ascii: ";")) ?? bytes.count
            var start = 0
            let blank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
            while start < end, blank(bytes[start]) { start += 1 }
            while end > start, blank(bytes[end - 1]) { end -= 1 }
            let expected = "application/json".utf8
            guard end - start == expected.count else { return false }
            // ASCII lowercase: setting bit 5 maps A-Z to a-z and leaves "/" alone.
            return zip(bytes[start..<end], expected).allSatisfy { byte, wanted in
                byte == wanted || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") && byte | 0x20 == wanted)
            }
        }
    }

    /// The JSON object in the body. A body declared as another media type is a
    /// 415; one that is not a JSON object is a 422 on `body`.
    func jsonBody() throws -> JSONBody {
        if let parsedBody { return try parsedBody.get() }
        return try parseJSONBody()
    }

    /// Parses the body now, before the write transaction, and keeps the outcome
    /// for `jsonBody()` (whose errors still come after authentication's): writes
    /// run one after another on the store's writer thread, which should not
    /// spend its time on JSON.
    mutating func parseBodyAhead() {
        guard !body.isEmpty else { return }
        parsedBody = Result { try parseJSONBody() }
    }

    private func parseJSONBody() throws -> JSONBody {
        if !body.isEmpty || request.headerFields.value(.contentType) != nil, !hasJSONContentType {
            throw APIError.unsupportedMediaType
        }
        return try JSONBody(body)
    }

    /// The largest `offset` a listing takes (decided here; a deeper page is empty anyway).
    static let maximumOffset = 1_000_000_000

    /// An integer query parameter within `range`, or `defaultValue` when absent.
    func queryInteger(_ name: String, in range: ClosedRange<Int>, default defaultValue: Int) throws -> Int {
        guard let text = target.query(name) else { return defaultValue }
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let value = Int(text), range.contains(value) else {
            let rule = "an integer between \(range.lowerBound) and \(range.upperBound)"
            throw APIError.validation(field: name, reason: "\(name) must be \(rule)")
        }
        return value
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        guard let start = firstIndex(where: { !characters.contains($0) }) else { return "" }
        let end = lastIndex(where: { !characters.contains($0) })!
        return String(self[start...end])
    }
}

extension HTTPFields {
    /// The value of the field `name`, as `self[name]` gives it, without that
    /// subscript's lazy join, which allocates and copies for every header read
    /// (docs/performance.md). Several fields of the name still give the joined form.
    func value(_ name: HTTPField.Name) -> String? {
        var found: String?
        for field in self where field.name == name {
            if found != nil { return self[name] }
            found = field.value
        }
        return found
    }
}
