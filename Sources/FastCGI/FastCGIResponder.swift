import HTTPTypes

/// A response as the worker writes it back to the web server: a status line,
/// header fields and a complete body.
package struct FastCGIResponse: Sendable {
    package var head: HTTPResponse
    package var body: [UInt8]

    package init(head: HTTPResponse, body: [UInt8]) {
        self.head = head
        self.body = body
    }
}

/// What the worker loop calls for every request. Implementations are called
/// from many threads at once and must be synchronous: each call runs on one of
/// the worker's blocking threads, never on Swift's cooperative pool.
package protocol FastCGIResponder: Sendable {
    /// Answers a complete request. `body` holds exactly the declared
    /// `CONTENT_LENGTH` bytes, or fewer if the web server ended the stream early.
    func respond(to request: HTTPRequest, body: [UInt8]) -> FastCGIResponse

    /// Answers a request whose declared body exceeds the configured cap. The body
    /// has not been read, and the connection is closed after the answer.
    func respondToOversizedBody(of request: HTTPRequest, declaredLength: Int) -> FastCGIResponse

    /// Answers a request whose CGI parameters cannot form an HTTP request
    /// (no method, an invalid method token, an unparsable `CONTENT_LENGTH`).
    func respondToMalformedRequest(requestID: String) -> FastCGIResponse
}
