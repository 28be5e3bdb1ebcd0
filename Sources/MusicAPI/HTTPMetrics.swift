import CoreMetrics
import MusicCore

/// The HTTP layer's metrics, through swift-metrics' API (the exporter is the
/// process's choice: `MetricsSystem.bootstrap` in music-fcgi, else no-ops).
///
/// Every handle is made here, once, from the route table: a request finds its
/// counters by the route and endpoint routing gave it (`Row`), with no label
/// lookup, dictionary or lock of its own (docs/performance.md).
package final class HTTPMetrics: Sendable {
    /// One line of help per metric, by name, for an exporter that writes HELP lines.
    package static let help: [String: String] = [
        requestsName: "Requests answered, by route template, method and status class",
        durationName: "Time from a request's arrival in the API to its answer, by route template and method",
        rejectionsName: "Requests refused as too large (413), of another media type (415) or invalid (422)",
        authFailuresName: "Requests refused by authentication (401) or authorization (403), by kind",
        replaysName: "Creates answered again from their Idempotency-Key record",
        cacheHitsName: "GETs answered from the read cache",
        cacheMissesName: "GETs of a cacheable read that the read cache did not answer",
    ]
    static let requestsName = "music_http_requests_total"
    static let durationName = "music_http_request_duration_seconds"
    static let rejectionsName = "music_http_rejections_total"
    static let authFailuresName = "music_auth_failures_total"
    static let replaysName = "music_idempotent_replays_total"
    static let cacheHitsName = "music_read_cache_hits_total"
    static let cacheMissesName = "music_read_cache_misses_total"

    /// The route template of a request no route takes.
    static let unmatchedRoute = "unmatched"
    /// The method label of a request that reached no endpoint: a method the route
    /// does not take (405), or no route at all. Any string can arrive as a method:
    /// the label stays one of a known few.
    static let otherMethod = "other"
    /// The status classes counted; an answer outside them counts under the nearest.
    static let statusClasses = ["2xx", "3xx", "4xx", "5xx"]

    /// The counters and the latency histogram a request is counted under: one
    /// per endpoint, one per route for the methods it does not take, one for no route.
    final class Row: Sendable {
        let requests: [Counter]
        let duration: Timer

        init(route: String, method: String, factory: any MetricsFactory) {
            requests = HTTPMetrics.statusClasses.map { statusClass in
                Counter(label: HTTPMetrics.requestsName,
                        dimensions: [("route", route), ("method", method), ("status_class", statusClass)], factory: factory)
            }
            duration = Timer(label: HTTPMetrics.durationName, dimensions: [("route", route), ("method", method)], factory: factory)
        }

        func count(status: Int, nanoseconds: UInt64) {
            requests[min(max(status / 100 - 2, 0), 3)].increment()
            duration.recordNanoseconds(Int64(truncatingIfNeeded: nanoseconds))
        }
    }

    /// Why authentication refused a request, as `MusicError` and the key tell it.
    enum AuthFailure: Int, CaseIterable {
        /// No key sent (AUTHENTICATION_REQUIRED).
        case missing
        /// A key that is not `ak_` and 40 letters or digits (INVALID_API_KEY).
        case malformed
        /// A well-formed key the database does not know (INVALID_API_KEY).
        case unknown
        /// A revoked key (API_KEY_DEACTIVATED).
        case revoked
        /// A valid key of a user who is not a member of the organization (ORGANIZATION_ACCESS_DENIED).
        case forbidden
        /// A member without the capability (INSUFFICIENT_PERMISSIONS).
        case insufficientPermissions

        var label: String {
            switch self {
            case .missing: "missing"
            case .malformed: "malformed"
            case .unknown: "unknown"
            case .revoked: "revoked"
            case .forbidden: "forbidden"
            case .insufficientPermissions: "insufficient_permissions"
            }
        }
    }

    /// `rows[route][endpoint]`, in `Router`'s order; `rows[route].last` is the
    /// route's row for the methods it does not take (`Router.Position`).
    private let rows: [[Row]]
    let unmatched: Row
    let contentTooLarge: Counter
    let unsupportedMediaType: Counter
    let unprocessableContent: Counter
    private let authFailures: [Counter]
    let idempotentReplays: Counter
    let readCacheHits: Counter
    let readCacheMisses: Counter

    init(router: Router, factory: any MetricsFactory) {
        rows = router.routes.map { route in
            route.endpoints.map { Row(route: route.pattern, method: $0.method.rawValue, factory: factory) }
                + [Row(route: route.pattern, method: Self.otherMethod, factory: factory)]
        }
        unmatched = Row(route: Self.unmatchedRoute, method: Self.otherMethod, factory: factory)
        let rejection = { (status: String) in
            Counter(label: Self.rejectionsName, dimensions: [("status", status)], factory: factory)
        }
        contentTooLarge = rejection("413")
        unsupportedMediaType = rejection("415")
        unprocessableContent = rejection("422")
        authFailures = AuthFailure.allCases.map { kind in
            Counter(label: Self.authFailuresName, dimensions: [("kind", kind.label)], factory: factory)
        }
        idempotentReplays = Counter(label: Self.replaysName, factory: factory)
        readCacheHits = Counter(label: Self.cacheHitsName, factory: factory)
        readCacheMisses = Counter(label: Self.cacheMissesName, factory: factory)
    }

    func row(_ position: Router.Position) -> Row {
        rows[position.route][position.endpoint]
    }

    /// Counts a finished request: under its row, and among the rejections by its status.
    func count(_ row: Row?, status: Int, nanoseconds: UInt64) {
        (row ?? unmatched).count(status: status, nanoseconds: nanoseconds)
        switch status {
        case 413: contentTooLarge.increment()
        case 415: unsupportedMediaType.increment()
        case 422: unprocessableContent.increment()
        default: break
        }
    }

    func count(_ failure: AuthFailure) {
        authFailures[failure.rawValue].increment()
    }
}
