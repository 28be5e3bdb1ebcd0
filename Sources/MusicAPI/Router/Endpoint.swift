import HTTPTypes
import MusicCore

/// What one method on one route does: everything `MusicAPI.route` needs to
/// answer it, so an endpoint is one entry of `Router.music`.
struct Endpoint: Sendable {
    /// Answers a request without a key, outside any transaction.
    typealias OpenHandler = @Sendable (MusicAPI, PathParameters, RequestContext) throws -> APIResponse
    /// Answers an authenticated caller inside the transaction it was authenticated in.
    typealias CallerHandler = @Sendable (MusicAPI, PathParameters, Caller, RequestContext) throws -> APIResponse

    enum Handler: Sendable {
        /// No key: the path itself is the credential, or there is none (health).
        case open(OpenHandler)
        /// Authenticated in one read transaction, which the handler answers from.
        /// `cacheable`: its 200 answers are kept in the read cache, under the caller's
        /// key and the target, until the next commit. Only reads whose answer depends
        /// on nothing but the caller, the target and the database may be.
        case read(cacheable: Bool, CallerHandler)
        /// Refused before the writer unless the key authenticates (`AdmittedKeys`),
        /// then authenticated again inside its write transaction.
        case write(CallerHandler)
    }

    let method: HTTPRequest.Method
    /// The endpoint's `operationId` in openapi.yaml.
    let id: String
    let handler: Handler

    /// Whether a key is needed (openapi.yaml: no `security: []`).
    var isAuthenticated: Bool {
        if case .open = handler { return false }
        return true
    }

    var isCacheable: Bool {
        if case .read(cacheable: true, _) = handler { return true }
        return false
    }

    static func open(_ method: HTTPRequest.Method, _ id: String, _ handler: @escaping OpenHandler) -> Endpoint {
        Endpoint(method: method, id: id, handler: .open(handler))
    }

    static func read(_ method: HTTPRequest.Method, _ id: String, cacheable: Bool,
                     _ handler: @escaping CallerHandler) -> Endpoint {
        Endpoint(method: method, id: id, handler: .read(cacheable: cacheable, handler))
    }

    static func write(_ method: HTTPRequest.Method, _ id: String, _ handler: @escaping CallerHandler) -> Endpoint {
        Endpoint(method: method, id: id, handler: .write(handler))
    }
}
