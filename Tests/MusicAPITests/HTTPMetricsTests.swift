import CoreMetrics
import Foundation
import HTTPTypes
import MetricsTestKit
@testable import MusicAPI
import MusicCore
import Testing

/// The HTTP layer's metrics move by exactly what was sent: a known mix of
/// requests through `MusicAPI.respond`, counted on a `TestMetrics` of the test's
/// own (handles come from an injected factory: the process-wide bootstrap
/// happens once per process, and the tests run in parallel).
@Suite("HTTP metrics")
struct HTTPMetricsTests {
    let metrics = TestMetrics()
    let app: TestApp

    init() throws {
        app = try TestApp(metrics: metrics)
    }

    static let collectionsRoute = "/v1/music/{organization_id}/collections"

    func requests(_ route: String, _ method: String, _ statusClass: String) throws -> Int64 {
        try metrics.expectCounter(HTTPMetrics.requestsName,
                                  [("route", route), ("method", method), ("status_class", statusClass)]).totalValue
    }

    func durations(_ route: String, _ method: String) throws -> [Int64] {
        try metrics.expectTimer(HTTPMetrics.durationName, [("route", route), ("method", method)]).values
    }

    func counter(_ label: String, _ dimensions: [(String, String)] = []) throws -> Int64 {
        try metrics.expectCounter(label, dimensions).totalValue
    }

    /// Every request counted once, whatever its row.
    var allRequests: Int64 { metrics.counterTotal(label: HTTPMetrics.requestsName) }

    @Test("requests by route template, method and status class, and one duration each")
    func requestsByRoute() throws {
        for _ in 0..<3 { #expect(app.request(.get, app.collectionsPath(), key: app.aliceKey).status == 200) }
        for _ in 0..<2 { #expect(app.request(.get, "/v1/music/health").status == 200) }
        #expect(app.request(.post, app.collectionsPath(), key: app.aliceKey, json: #"{"name": "One"}"#).status == 201)
        #expect(app.request(.get, "/v1/music/\(app.orgA)/nothing/here").status == 404)
        #expect(app.request(.put, app.collectionsPath(), key: app.aliceKey, json: "{}").status == 405)

        #expect(try requests(Self.collectionsRoute, "GET", "2xx") == 3)
        #expect(try requests(Self.collectionsRoute, "POST", "2xx") == 1)
        #expect(try requests("/v1/music/health", "GET", "2xx") == 2)
        #expect(try requests(HTTPMetrics.unmatchedRoute, HTTPMetrics.otherMethod, "4xx") == 1)
        #expect(try requests(Self.collectionsRoute, HTTPMetrics.otherMethod, "4xx") == 1)
        #expect(try requests(Self.collectionsRoute, "GET", "4xx") == 0)
        #expect(allRequests == 8)
        // The raw path never becomes a label.
        #expect(!metrics.counters(label: HTTPMetrics.requestsName).contains { counter in
            counter.dimensions.contains { $0.1.contains(app.orgA) }
        })

        #expect(try durations(Self.collectionsRoute, "GET").count == 3)
        #expect(try durations(Self.collectionsRoute, "GET").allSatisfy { $0 > 0 })
        #expect(try durations("/v1/music/health", "GET").count == 2)
        #expect(try durations(HTTPMetrics.unmatchedRoute, HTTPMetrics.otherMethod).count == 1)
    }

    @Test("a read-cache hit is counted under its route, and as a hit; a computed cacheable read as a miss")
    func readCache() throws {
        let path = app.collectionsPath() + "?limit=5"
        for _ in 0..<3 { #expect(app.request(.get, path, key: app.aliceKey).status == 200) }
        #expect(app.request(.get, "/v1/music/\(app.orgA)/tracks", key: app.aliceKey).status == 200)
        // SQLite tells changes apart (PRAGMA data_version) and keeps answers; PostgreSQL keeps none.
        let keeps = app.store.changeStamp() != nil
        #expect(try counter(HTTPMetrics.cacheHitsName) == (keeps ? 2 : 0))
        #expect(try counter(HTTPMetrics.cacheMissesName) == (keeps ? 2 : 4))
        #expect(try requests(Self.collectionsRoute, "GET", "2xx") == 3)
        #expect(try requests("/v1/music/{organization_id}/tracks", "GET", "2xx") == 1)
        #expect(try durations(Self.collectionsRoute, "GET").count == 3)
        // Health is never looked up.
        _ = app.request(.get, "/v1/music/health")
        #expect(try counter(HTTPMetrics.cacheHitsName) + counter(HTTPMetrics.cacheMissesName) == 4)
    }

    @Test("413, 415 and 422 are counted as rejections, and under their route")
    func rejections() throws {
        let path = app.collectionsPath()
        #expect(app.request(.post, path, key: app.aliceKey, json: #"{"name": 5}"#).status == 422)
        #expect(app.request(.get, path + "?limit=0", key: app.aliceKey).status == 422)
        #expect(app.request(.post, path, key: app.aliceKey, json: #"{"name": "x"}"#, contentType: "text/plain").status == 415)
        var fields = HTTPFields()
        fields[HTTPField.Name("X-Request-ID")!] = "0123456789abcdef0123456789abcdef"
        fields[HTTPField.Name("X-API-Key")!] = app.aliceKey
        let oversized = HTTPRequest(method: .post, scheme: "https", authority: "localhost", path: path, headerFields: fields)
        #expect(app.api.respondToOversizedBody(of: oversized).head.status.code == 413)

        #expect(try counter(HTTPMetrics.rejectionsName, [("status", "422")]) == 2)
        #expect(try counter(HTTPMetrics.rejectionsName, [("status", "415")]) == 1)
        #expect(try counter(HTTPMetrics.rejectionsName, [("status", "413")]) == 1)
        #expect(try requests(Self.collectionsRoute, "POST", "4xx") == 3)
        #expect(try requests(Self.collectionsRoute, "GET", "4xx") == 1)
        #expect(allRequests == 4)
        #expect(try durations(Self.collectionsRoute, "POST").count == 3)
    }

    @Test("authentication failures by kind")
    func authFailures() throws {
        let path = app.collectionsPath()
        let unknownKey = "ak_" + String(repeating: "Z", count: 40)
        #expect(app.request(.get, path).status == 401)
        #expect(app.request(.get, path, key: "ak_short").status == 401)
        #expect(app.request(.get, path, key: unknownKey).status == 401)
        #expect(app.request(.post, path, key: unknownKey, json: #"{"name": "x"}"#).status == 401)
        #expect(app.request(.get, path, key: app.revokedKey).status == 401)
        #expect(app.request(.get, path, key: app.daveKey).status == 403)
        #expect(app.request(.get, path, key: app.carolKey).status == 403)

        let kinds = ["missing": 1, "malformed": 1, "unknown": 2, "revoked": 1, "forbidden": 1, "insufficient_permissions": 1]
        for (kind, expected) in kinds {
            #expect(try counter(HTTPMetrics.authFailuresName, [("kind", kind)]) == Int64(expected), "\(kind)")
        }
        #expect(metrics.counterTotal(label: HTTPMetrics.authFailuresName) == 7)
        #expect(try requests(Self.collectionsRoute, "GET", "4xx") == 6)
        #expect(try requests(Self.collectionsRoute, "POST", "4xx") == 1)
        // A success is no failure.
        #expect(app.request(.get, path, key: app.aliceKey).status == 200)
        #expect(metrics.counterTotal(label: HTTPMetrics.authFailuresName) == 7)
    }

    @Test("an idempotent replay is counted once per replayed answer")
    func replays() throws {
        let path = app.collectionsPath()
        let headers = ["Idempotency-Key": "metrics-replay-1"]
        #expect(app.request(.post, path, key: app.aliceKey, json: #"{"name": "Once"}"#, headers: headers).status == 201)
        #expect(try counter(HTTPMetrics.replaysName) == 0)
        for _ in 0..<2 {
            let again = app.request(.post, path, key: app.aliceKey, json: #"{"name": "Once"}"#, headers: headers)
            #expect(again.status == 201 && again.header("Idempotent-Replayed") == "true")
        }
        // Same key, another body: a 422, not a replay.
        #expect(app.request(.post, path, key: app.aliceKey, json: #"{"name": "Other"}"#, headers: headers).status == 422)
        #expect(try counter(HTTPMetrics.replaysName) == 2)
        #expect(try requests(Self.collectionsRoute, "POST", "2xx") == 3)
        #expect(try counter(HTTPMetrics.rejectionsName, [("status", "422")]) == 1)
    }

    @Test("every endpoint of the route table has its counters and histogram from the start, at zero")
    func madeAtInit() throws {
        for route in Router.music.routes {
            for method in route.endpoints.map(\.method.rawValue) + [HTTPMetrics.otherMethod] {
                for statusClass in HTTPMetrics.statusClasses {
                    #expect(try requests(route.pattern, method, statusClass) == 0)
                }
                #expect(try durations(route.pattern, method).isEmpty)
            }
        }
        #expect(try requests(HTTPMetrics.unmatchedRoute, HTTPMetrics.otherMethod, "4xx") == 0)
    }

    @Test("the help table names exactly the metrics made")
    func helpCoversEveryMetric() {
        // The store's handles come from the same factory: only the API's names here.
        let made = Set(metrics.counters.map(\.label) + metrics.timers.map(\.label)).filter { !$0.hasPrefix("music_write_") && !$0.hasPrefix("music_pg_") }
        #expect(made == Set(HTTPMetrics.help.keys))
    }
}
