import FastCGI
import HTTPTypes
import MusicAPI

/// Plugs the HTTP layer into the FastCGI worker loop.
struct MusicResponder: FastCGIResponder {
    let api: MusicAPI

    func respond(to request: HTTPRequest, body: [UInt8]) -> FastCGIResponse {
        FastCGIResponse(api.respond(to: request, body: body))
    }

    func respondToOversizedBody(of request: HTTPRequest, declaredLength: Int) -> FastCGIResponse {
        FastCGIResponse(api.respondToOversizedBody(of: request))
    }

    func respondToMalformedRequest(requestID: String) -> FastCGIResponse {
        FastCGIResponse(api.respondToMalformedRequest(requestID: requestID))
    }
}

extension FastCGIResponse {
    init(_ response: APIResponse) {
        self.init(head: response.head, body: response.body)
    }
}
