import HTTPTypes

/// The responder of a worker's metrics socket: a GET (or HEAD) of any path answers
/// the exposition (nginx decides which path reaches the socket); anything else goes
/// to `otherwise`, which answers with the API's error envelope.
package struct MetricsResponder: FastCGIResponder {
    /// Prometheus' text exposition format 0.0.4.
    package static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    let exposition: @Sendable () -> [UInt8]
    let otherwise: any FastCGIResponder

    /// `exposition` refreshes what is sampled at scrape time and renders the registry.
    package init(exposition: @escaping @Sendable () -> [UInt8], otherwise: any FastCGIResponder) {
        self.exposition = exposition
        self.otherwise = otherwise
    }

    package func respond(to request: HTTPRequest, body: [UInt8]) -> FastCGIResponse {
        guard request.method == .get || request.method == .head else {
            return otherwise.respond(to: request, body: body)
        }
        var head = HTTPResponse(status: .ok)
        head.headerFields[.contentType] = Self.contentType
        head.headerFields[.cacheControl] = "no-store"
        return FastCGIResponse(head: head, body: exposition())
    }

    package func respondToOversizedBody(of request: HTTPRequest, declaredLength: Int) -> FastCGIResponse {
        otherwise.respondToOversizedBody(of: request, declaredLength: declaredLength)
    }

    package func respondToMalformedRequest(requestID: String) -> FastCGIResponse {
        otherwise.respondToMalformedRequest(requestID: requestID)
    }
}
