import HTTPTypes

/// The service's own endpoints, answered without a key.
extension MusicAPI {
    func health(_ context: RequestContext) -> APIResponse {
        let healthy = healthCheck.isHealthy { error in
            logger.error("health check failed", metadata: ["trace_id": "\(context.traceID)", "error": "\(String(reflecting: error))"])
        }
        guard healthy else { return errorResponse(.serviceUnavailable, context: context) }
        return APIResponse(status: .ok, json: Array(#"{"status":"ok"}"#.utf8), traceID: context.traceID)
    }

    /// The document the worker was given, else 404 (as an unknown path).
    func openAPI(_ context: RequestContext) throws -> APIResponse {
        guard let document = openAPIDocument else { throw APIError.routeNotFound() }
        var response = APIResponse(status: .ok, json: document, traceID: context.traceID)
        response.head.headerFields[.contentType] = "application/yaml"
        return response
    }
}
