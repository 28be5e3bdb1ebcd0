import HTTPTypes
import MusicCore

/// A parameter a route's pattern may name: each is read by name by the
/// handlers, so a name outside this list is a typo (refused when the table is built).
enum PathParameter: String, Sendable, CaseIterable {
    case organizationID = "organization_id"
    case collectionID = "collection_id"
    case trackID = "track_id"
    case shareID = "share_id"
    case token
}

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

/// One path pattern and the endpoint each method reaches there. A class: a
/// match hands it on by one reference, not field by field.
final class Route: Sendable {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(PathParameter)
    }

    /// As written in the table and in openapi.yaml: `/v1/music/{organization_id}/...`.
    let pattern: String
    let segments: [Segment]
    let endpoints: [Endpoint]
    /// The `Allow` field of a 405 here: the methods, in the table's order.
    let allow: String
    /// What the log shows for a path of this route, when its parameters are
    /// secrets (a share token); `nil`: the path as sent.
    let loggedAs: String?

    init(_ pattern: String, _ endpoints: [Endpoint], loggedAs: String? = nil) {
        self.pattern = pattern
        segments = pattern.split(separator: "/").map { part in
            guard part.hasPrefix("{") else { return .literal(String(part)) }
            let name = String(part.dropFirst().dropLast())
            guard let parameter = PathParameter(rawValue: name) else {
                fatalError("route \(pattern): no path parameter is named \(name)")
            }
            return .parameter(parameter)
        }
        self.endpoints = endpoints
        allow = endpoints.map(\.method.rawValue).joined(separator: ", ")
        self.loggedAs = loggedAs
    }

    /// The path for the log line of a request on this route, sent as `rawPath`.
    func loggedPath(_ rawPath: Substring) -> Substring {
        loggedAs.map { $0[...] } ?? rawPath
    }

    /// Whether `path` (decoded segments) fits the pattern.
    func matches(_ path: [String]) -> Bool {
        guard path.count == segments.count else { return false }
        for (segment, part) in zip(segments, path) {
            if case .literal(let literal) = segment, literal != part { return false }
        }
        return true
    }
}

/// The parameters of a matched path, read from its segments by the route's
/// pattern when a handler asks: nothing is built per request.
struct PathParameters {
    let path: [String]
    let pattern: [Route.Segment]

    /// The segment the pattern names `name`; "" when it names none (a handler
    /// asks only for the parameters of its own route).
    subscript(_ name: PathParameter) -> String {
        for index in pattern.indices {
            if case .parameter(name) = pattern[index] { return path[index] }
        }
        return ""
    }
}
