import CoreMetrics
import HTTPTypes
import Logging
import MusicCore
import MusicSupport
#if canImport(Glibc)
import Glibc
#endif

/// The HTTP layer of the service: a plain function from a request to a response.
/// It never sees libfcgi, so the whole API is tested in-process.
package final class MusicAPI: Sendable {
    /// Largest request body accepted, in bytes (nginx enforces the same cap).
    package static let maxBodyBytes = 1 << 20

    let store: any Store
    let clock: any WallClock
    let collections: CollectionService
    let shares: ShareService
    let catalog: TrackCatalog
    let authenticator: Authenticator
    let logger: Logger
    /// `logger`, its messages JSON members (`JSONLogMembers`): the request line's.
    let requestLogger: Logger
    let router = Router.music
    let healthCheck: HealthCheck
    let readCache = ReadCache()
    let admittedKeys = AdmittedKeys()
    let metrics: HTTPMetrics
    /// The OpenAPI document served at `/v1/music/openapi.yaml`, if one was given.
    let openAPIDocument: [UInt8]?
    /// The public base URL of the service, without a trailing slash
    /// (`MUSIC_PUBLIC_URL`): share links are built on it, never on the
    /// client's Host header.
    let publicURL: String

    /// `metrics`: where the handles come from, by default the process's factory
    /// (bootstrap it before this, as music-fcgi does; tests pass their own).
    package init(store: any Store, clock: any WallClock = SystemClock(), logger: Logger = Logger(label: "music.api"),
                openAPIDocument: [UInt8]? = nil, metrics: any MetricsFactory = MetricsSystem.factory,
                publicURL: String = PublicURL.defaultValue) {
        self.publicURL = publicURL
        self.metrics = HTTPMetrics(router: router, factory: metrics)
        self.openAPIDocument = openAPIDocument
        self.store = store
        self.clock = clock
        self.collections = CollectionService(store: store, clock: clock)
        self.shares = ShareService(store: store, clock: clock)
        self.catalog = TrackCatalog(store: store)
        self.authenticator = Authenticator(store: store)
        self.logger = logger
        var requestLogger = logger
        requestLogger[metadataKey: JSONLogMembers.metadataKey] = "on"
        self.requestLogger = requestLogger
        self.healthCheck = HealthCheck(store: store)
    }

    /// Makes health fail while `live` says the worker's request threads have
    /// stopped making progress (checked with the database, at most once a second).
    package func setWorkerLiveness(_ live: @escaping @Sendable () -> Bool) {
        healthCheck.setLiveness(live)
    }

    /// Answers one request. `request.headerFields` carries `X-Request-ID`, the id
    /// the web server assigned; the trace id is `req_` + that id.
    package func respond(to request: HTTPRequest, body: [UInt8]) -> APIResponse {
        let started = monotonicNanoseconds()
        var context = RequestContext(request: request, body: body)
        var response: APIResponse
        do {
            response = try route(&context)
        } catch let error as MusicError {
            if let failure = authFailure(error, context: context) { metrics.count(failure) }
            response = errorResponse(APIError(error), context: context)
        } catch let error as APIError {
            response = errorResponse(error, context: context)
        } catch let error as StoreUnavailableError {
            logger.error("database unavailable", metadata: ["trace_id": "\(context.traceID)", "error": "\(error.reason)"])
            response = errorResponse(.serviceUnavailable, context: context)
        } catch {
            logger.error("unhandled error", metadata: ["trace_id": "\(context.traceID)", "error": "\(String(reflecting: error))"])
            response = errorResponse(.internalError, context: context)
        }
        finish(context, &response, started: started)
        return response
    }

    /// Counts and logs a request answered.
    private func finish(_ context: RequestContext, _ response: inout APIResponse, started: UInt64) {
        if !context.answerAnnotated { annotate(&response, context) }
        let nanoseconds = monotonicNanoseconds() &- started
        // Read once: HTTPResponse parses its status from a pseudo-header field on each read.
        let status = response.head.status.code
        metrics.count(context.metrics, status: status, nanoseconds: nanoseconds)
        if response.replayed { metrics.idempotentReplays.increment() }
        log(context, status: status, nanoseconds: nanoseconds)
    }

    /// The kind of an authentication refusal, for `music_auth_failures_total`; nil for other errors.
    private func authFailure(_ error: MusicError, context: RequestContext) -> HTTPMetrics.AuthFailure? {
        switch error {
        case .authenticationRequired: return .missing
        // PresentedKey refuses a malformed key with the same error the store gives an unknown one.
        case .invalidAPIKey: return APIKey.isWellFormed(context.apiKey ?? "") ? .unknown : .malformed
        case .apiKeyDeactivated: return .revoked
        case .organizationAccessDenied: return .forbidden
        case .insufficientPermissions: return .insufficientPermissions
        default: return nil
        }
    }

    /// The answer to a body over the cap, which the FastCGI layer has not read.
    package func respondToOversizedBody(of request: HTTPRequest) -> APIResponse {
        let started = monotonicNanoseconds()
        var context = RequestContext(request: request, body: [])
        // Logged and counted under the route the path names, as `route` would.
        if let segments = context.target.segments {
            switch router.match(method: request.method, path: segments) {
            case .found(_, let route, let position), .methodNotAllowed(let route, let position):
                context.route = route
                context.metrics = metrics.row(position)
            case .notFound:
                break
            }
        }
        var response = errorResponse(.payloadTooLarge(limit: Self.maxBodyBytes), context: context)
        finish(context, &response, started: started)
        return response
    }

    /// The answer to parameters that do not form an HTTP request.
    package func respondToMalformedRequest(requestID: String) -> APIResponse {
        let started = monotonicNanoseconds()
        let traceID = "req_" + requestID
        let response = APIResponse(status: .badRequest, json: APIError.badRequest.envelope(traceID: traceID, timestamp: clock.now().iso8601), traceID: traceID)
        metrics.count(nil, status: response.head.status.code, nanoseconds: monotonicNanoseconds() &- started)
        return response
    }

    // MARK: Routing

    private func route(_ context: inout RequestContext) throws -> APIResponse {
        var presentedKey: PresentedKey?
        // Kept answers are the organization's reads, /v1/music/{organization}/...:
        // health and the OpenAPI document are not looked up.
        if context.request.method == .get, context.target.hasSegments(atLeast: 4) {
            let presented = PresentedKey(context.apiKey)
            presentedKey = presented
            if let answer = readCacheProbe(keyHash: presented.hash, &context) { return answer }
        }
        let segments: [String]
        switch context.target.path {
        case .segments(let decoded): segments = decoded
        case .malformed: throw APIError.routeNotFound()
        case .ambiguous: throw APIError.ambiguousPath
        }
        let endpoint: Endpoint
        let route: Route
        switch router.match(method: context.request.method, path: segments) {
        case .notFound:
            throw APIError.routeNotFound()
        case .methodNotAllowed(let route, let position):
            context.metrics = metrics.row(position)
            context.route = route
            var response = errorResponse(.methodNotAllowed(context.request.method), context: context)
            response.head.headerFields.append(HTTPField(name: .allow, value: route.allow))
            return response
        case .found(let found, let foundRoute, let position):
            endpoint = found
            route = foundRoute
            context.metrics = metrics.row(position)
        }
        context.route = route
        let parameters = PathParameters(path: segments, pattern: route.segments)
        switch endpoint.handler {
        case .open(let handler):
            return try handler(self, parameters, context)
        case .read(let cacheable, let handler):
            let presented = presentedKey ?? PresentedKey(context.apiKey)
            guard cacheable else { return try read(handler, parameters: parameters, presented: presented, &context) }
            return try cachedRead(&context) { context in
                try read(handler, parameters: parameters, presented: presented, &context)
            }
        case .write(let handler):
            let presented = presentedKey ?? PresentedKey(context.apiKey)
            return try change(handler, parameters: parameters, presented: presented,
                              organizationID: parameters[.organizationID], &context)
        }
    }

    /// A read: one transaction per request, so it answers from the snapshot it
    /// authenticated in (a change authenticates inside its own write).
    private func read(_ handler: Endpoint.CallerHandler, parameters: PathParameters, presented: PresentedKey,
                      _ context: inout RequestContext) throws -> APIResponse {
        let organizationID = parameters[.organizationID]
        return try store.read { _ in
            let caller = try authenticator.authenticate(presented, organizationID: organizationID)
            context.userID = caller.userID
            return try handler(self, parameters, caller, context)
        }
    }

    /// A change: refused before it reaches the store's writer unless its key
    /// authenticates (`AdmittedKeys`), then authenticated again inside its write.
    private func change(_ handler: Endpoint.CallerHandler, parameters: PathParameters, presented: PresentedKey,
                        organizationID: String, _ context: inout RequestContext) throws -> APIResponse {
        // A missing or malformed key is a 401 here, before its body is parsed.
        let keyHash = try presented.checkedHash()
        if !admittedKeys.contains(keyHash: keyHash, organizationID: organizationID) {
            _ = try authenticator.authenticate(presented, organizationID: organizationID)
            admittedKeys.admit(keyHash: keyHash, organizationID: organizationID)
        }
        context.parseBodyAhead()
        var refusedInWrite = false
        do {
            return try store.write { _ in
                let caller: Caller
                do {
                    caller = try authenticator.authenticate(presented, organizationID: organizationID)
                } catch {
                    refusedInWrite = true
                    throw error
                }
                context.userID = caller.userID
                return try handler(self, parameters, caller, context)
            }
        } catch {
            // Forgotten on this thread (the write may run on another).
            if refusedInWrite { admittedKeys.forget(keyHash: keyHash, organizationID: organizationID) }
            throw error
        }
    }

    /// A GET answered from `readCache`, before routing, when the same caller asked
    /// for the same target and nothing was committed since. Only the answers of
    /// the reads the router marks cacheable are kept (`cachedRead`), and where a
    /// request goes depends on its method and target alone, so a hit is what
    /// routing would have reached. On a miss, the entry's key and the stamp read now are left
    /// in `context` for `cachedRead` to keep the answer under.
    private func readCacheProbe(keyHash: String?, _ context: inout RequestContext) -> APIResponse? {
        guard context.body.isEmpty, let keyHash, let target = context.request.path, let stamp = store.changeStamp() else {
            return nil
        }
        let key = ReadCache.key(keyHash: keyHash, target: target)
        if let entry = readCache.lookup(key, stamp: stamp) {
            metrics.readCacheHits.increment()
            context.metrics = entry.metrics
            context.userID = entry.userID
            context.route = entry.route
            context.answerAnnotated = true
            return entry.response.retraced(context.traceID)
        }
        context.readCacheMiss = (key, stamp)
        return nil
    }

    /// A cacheable read computed, and kept (`ReadCache.keeps`) under the key and the stamp
    /// `readCacheProbe` read before it: were a commit to land between that stamp
    /// and the read's snapshot, the stamp has moved since and the entry never serves.
    private func cachedRead(_ context: inout RequestContext,
                            _ compute: (inout RequestContext) throws -> APIResponse) throws -> APIResponse {
        metrics.readCacheMisses.increment()
        guard let (key, stamp) = context.readCacheMiss, let row = context.metrics else { return try compute(&context) }
        var response = try compute(&context)
        if ReadCache.keeps(response) {
            annotate(&response, context)
            context.answerAnnotated = true
            readCache.keep(key, ReadCache.Entry(stamp: stamp, userID: context.userID, metrics: row, route: context.route,
                                                response: response))
        }
        return response
    }

    func errorResponse(_ error: APIError, context: RequestContext) -> APIResponse {
        APIResponse(status: error.status, json: error.envelope(traceID: context.traceID, timestamp: clock.now().iso8601), traceID: context.traceID)
    }

    // MARK: Log

    /// Adds the fields nginx's access log reads (X-Music-Route, X-Music-User).
    /// A kept answer holds them already, so a read-cache hit adds nothing.
    private func annotate(_ response: inout APIResponse, _ context: RequestContext) {
        if let route = context.route { response.head.headerFields.append(route.routeField) }
        if let userID = context.userID { response.head.headerFields.append(HTTPField(name: .musicUser, value: userID)) }
    }

    /// One JSON line per request (`"message":"request"`, see `JSONLogMembers`):
    /// trace id, method, route template, status, duration, user, the client's
    /// W3C trace id. Never the key, the body, the query string or the path: the
    /// route is the router's template (a share token is `{token}` there), null when
    /// no route took the request. Built by appending bytes: string interpolation
    /// and metadata cost more than the rest of a health request's logging
    /// (docs/performance.md). The route and the user also go to nginx's access
    /// log, as two fields of the answer that nginx hides.
    private func log(_ context: RequestContext, status: Int, nanoseconds: UInt64) {
        guard requestLogger.logLevel <= .info else { return }
        let micros = nanoseconds / 1_000
        var line: [UInt8] = []
        line.reserveCapacity(320)
        line.appendStatic(#""message":"request","trace_id":"#)
        line.appendJSONString(context.traceID)
        // A method is an HTTP token: no character of it needs an escape.
        line.appendStatic(#","method":""#)
        line.appendUTF8(context.request.method.rawValue)
        line.appendStatic(#"","route":"#)
        if let route = context.route { line.append(contentsOf: route.patternJSON) } else { line.appendStatic("null") }
        line.appendStatic(#","status":"#)
        line.appendDecimal(UInt64(status))
        line.appendStatic(#","duration_ms":"#)
        line.appendDecimal(micros / 1_000)
        line.append(UInt8(ascii: "."))
        line.appendDecimal(micros % 1_000, width: 3)
        line.appendStatic(#","user_id":"#)
        if let userID = context.userID { line.appendJSONString(userID) } else { line.appendStatic("null") }
        line.appendStatic(#","w3c_trace_id":"#)
        if let w3c = TraceParent.traceID(of: context.request) {
            // Lowercase hex (TraceParent): nothing to escape.
            line.append(UInt8(ascii: "\""))
            line.appendUTF8(w3c)
            line.append(UInt8(ascii: "\""))
        } else {
            line.appendStatic("null")
        }
        requestLogger.info(Logger.Message(stringLiteral: String(decoding: line, as: UTF8.self)))
    }
}
