import HTTPTypes
import MusicCore

/// One row of docs/api.md's error table, filled in: everything the envelope carries
/// but the trace id and the timestamp.
package struct APIError: Error, Equatable, Sendable {
    package var status: HTTPResponse.Status
    package var code: String
    package var type: String
    package var message: String
    package var systemMessage: String
    package var details: [String: String]

    package init(status: HTTPResponse.Status, code: String, type: String, message: String, systemMessage: String, details: [String: String] = [:]) {
        self.status = status
        self.code = code
        self.type = type
        self.message = message
        self.systemMessage = systemMessage
        self.details = details
    }

    /// The one place where domain errors become HTTP errors.
    init(_ error: MusicError) {
        switch error {
        case .authenticationRequired:
            self = .authenticationRequired
        case .invalidAPIKey:
            self.init(status: .unauthorized, code: "INVALID_API_KEY", type: "authentication_error",
                      message: "The API key is invalid.", systemMessage: "API key is malformed or unknown")
        case .apiKeyDeactivated:
            self.init(status: .unauthorized, code: "API_KEY_DEACTIVATED", type: "authentication_error",
                      message: "The API key has been deactivated.", systemMessage: "API key was revoked by an administrator")
        case .organizationAccessDenied:
            self.init(status: .forbidden, code: "ORGANIZATION_ACCESS_DENIED", type: "authorization_error",
                      message: "You do not have access to this organization.", systemMessage: "Caller is not a member of the organization")
        case .insufficientPermissions:
            self.init(status: .forbidden, code: "INSUFFICIENT_PERMISSIONS", type: "authorization_error",
                      message: "You do not have permission to perform this action.", systemMessage: "Missing USE_MUSIC_GENERATION capability")
        case .validation(let field, let reason):
            self = .validation(field: field, reason: reason)
        case .notFound(let reason, let details):
            self.init(status: .notFound, code: "RESOURCE_NOT_FOUND", type: "client_error",
                      message: "The requested resource was not found.", systemMessage: reason, details: details)
        case .collectionFull(let limit):
            self.init(status: .conflict, code: "COLLECTION_FULL", type: "client_error",
                      message: "The collection is full.", systemMessage: "A collection holds at most \(limit) tracks")
        case .preconditionFailed:
            self.init(status: .preconditionFailed, code: "PRECONDITION_FAILED", type: "client_error",
                      message: "The collection has changed since it was read.", systemMessage: "If-Match does not match the current ETag")
        }
    }

    static let authenticationRequired = APIError(
        status: .unauthorized, code: "AUTHENTICATION_REQUIRED", type: "authentication_error",
        message: "Authentication required. Please provide a valid API key.",
        systemMessage: "Missing or invalid authorization header")

    static func validation(field: String, reason: String) -> APIError {
        APIError(status: .unprocessableContent, code: "VALIDATION_ERROR", type: "validation_error",
                 message: "The request payload is invalid.", systemMessage: reason, details: ["field": field])
    }

    static func routeNotFound() -> APIError {
        APIError(status: .notFound, code: "RESOURCE_NOT_FOUND", type: "client_error",
                 message: "The requested resource was not found.", systemMessage: "No route matches the path")
    }

    static func methodNotAllowed(_ method: HTTPRequest.Method) -> APIError {
        APIError(status: .methodNotAllowed, code: "METHOD_NOT_ALLOWED", type: "client_error",
                 message: "The method is not allowed for this resource.",
                 systemMessage: "Method \(method.rawValue) is not allowed on this path")
    }

    static func payloadTooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge, code: "PAYLOAD_TOO_LARGE", type: "client_error",
                 message: "The request body is too large.", systemMessage: "Request body exceeds \(limit) bytes")
    }

    static let unsupportedMediaType = APIError(
        status: .unsupportedMediaType, code: "UNSUPPORTED_MEDIA_TYPE", type: "client_error",
        message: "The request body must be JSON.", systemMessage: "Content-Type must be application/json")

    static let idempotencyKeyReused = APIError(
        status: .unprocessableContent, code: "IDEMPOTENCY_KEY_REUSED", type: "client_error",
        message: "This Idempotency-Key was already used with another request body.",
        systemMessage: "Idempotency-Key reused with a different body", details: ["field": "Idempotency-Key"])

    /// A path with a dot segment or an encoded slash or backslash (`RequestTarget.Path.ambiguous`).
    static let ambiguousPath = APIError(
        status: .badRequest, code: "BAD_REQUEST", type: "client_error",
        message: "The request path is not accepted.",
        systemMessage: "The path holds a dot segment or an encoded slash or backslash")

    static let badRequest = APIError(
        status: .badRequest, code: "BAD_REQUEST", type: "client_error",
        message: "The request could not be understood.", systemMessage: "Malformed request framing")

    static let internalError = APIError(
        status: .internalServerError, code: "INTERNAL_ERROR", type: "server_error",
        message: "An internal error occurred.", systemMessage: "Internal error; quote the trace id to support")

    static let serviceUnavailable = APIError(
        status: .serviceUnavailable, code: "SERVICE_UNAVAILABLE", type: "server_error",
        message: "The service is temporarily unavailable.", systemMessage: "The database cannot be reached")

    /// The envelope's JSON.
    func envelope(traceID: String, timestamp: String) -> [UInt8] {
        var json = JSONWriter(capacity: 384)
        json.beginObject()
        json.key("success"); json.bool(false)
        json.key("error")
        json.beginObject()
        json.key("code"); json.string(code)
        json.key("message"); json.string(message)
        json.key("system_message"); json.string(systemMessage)
        json.key("type"); json.string(type)
        json.key("status"); json.int(status.code)
        json.key("details"); json.object(details)
        json.key("trace_id"); json.string(traceID)
        json.key("timestamp"); json.string(timestamp)
        json.endObject()
        json.endObject()
        return json.bytes
    }
}
