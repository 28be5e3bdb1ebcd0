import HTTPTypes

/// What the handler answers: a status, header fields and a complete body.
package struct APIResponse: Sendable {
    package var head: HTTPResponse
    package var body: [UInt8]
    /// An answer replayed for a repeated `Idempotency-Key` (counted by `HTTPMetrics`).
    var replayed = false

    package init(head: HTTPResponse, body: [UInt8]) {
        self.head = head
        self.body = body
    }

    /// A JSON answer carrying the request id.
    init(status: HTTPResponse.Status, json: [UInt8], traceID: String, extraFields: [HTTPField] = []) {
        var fields = HTTPFields()
        // Room for the two fields MusicAPI.log adds for nginx.
        fields.reserveCapacity(6 + extraFields.count)
        fields.append(HTTPField(name: .contentType, value: "application/json"))
        fields.append(HTTPField(name: .cacheControl, value: "no-store"))
        fields.append(HTTPField(name: .requestID, value: traceID))
        fields.append(contentsOf: extraFields)
        head = HTTPResponse(status: status, headerFields: fields)
        body = json
    }

    /// The body as text (for tests and logs of non-sensitive answers).
    package var bodyText: String { String(decoding: body, as: UTF8.self) }
}

extension HTTPField.Name {
    /// `X-Request-ID`: nginx's request id, set by the FastCGI layer and echoed back.
    static let requestID = HTTPField.Name("X-Request-ID")!
    static let apiKey = HTTPField.Name("X-API-Key")!
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    /// Set on an answer replayed for a repeated `Idempotency-Key`.
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
    /// For nginx's access log only (nginx/music-fastcgi.conf hides them from the
    /// client): the template of the route that took the request, and the
    /// authenticated user's id.
    static let musicRoute = HTTPField.Name("X-Music-Route")!
    static let musicUser = HTTPField.Name("X-Music-User")!
}
