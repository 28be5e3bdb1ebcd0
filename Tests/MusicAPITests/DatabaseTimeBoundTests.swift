import Foundation
import HTTPTypes
import Logging
import MusicAPI
import StoreTestSupport
import Testing

/// A request whose PostgreSQL link goes silent ends in a 503 envelope within
/// the store's transaction bound, well before nginx's fastcgi_read_timeout.
@Suite("Database time bounds through the API", .enabled(if: TestDatabase.postgresURL != nil))
struct DatabaseTimeBoundTests {
    @Test("a frozen database link: reads and writes answer 503 SERVICE_UNAVAILABLE within the bound")
    func silentDatabase() throws {
        let app = try TestApp()
        let proxy = try FreezableProxy(unixSocket: try #require(TestDatabase.postgresSocket))
        let store = try #require(try app.database.anotherPostgresStore(parameters: "music_transaction_timeout_ms=1500", through: proxy))
        var quiet = Logger(label: "music.api.test")
        quiet.logLevel = .critical
        let api = MusicAPI(store: store, clock: app.clock, logger: quiet)

        func send(_ method: HTTPRequest.Method, json: String? = nil) -> (status: Int, code: String?, seconds: Double) {
            var fields = HTTPFields()
            fields[HTTPField.Name("X-API-Key")!] = app.aliceKey
            let body = Array((json ?? "").utf8)
            if json != nil {
                fields[.contentType] = "application/json"
                fields[.contentLength] = String(body.count)
            }
            let request = HTTPRequest(method: method, scheme: "https", authority: "localhost", path: app.collectionsPath(),
                                      headerFields: fields)
            let start = Date()
            let response = TestResponse(api.respond(to: request, body: body))
            return (response.status, response.errorCode, Date().timeIntervalSince(start))
        }

        #expect(send(.get).status == 200)
        proxy.freeze()
        for attempt in 0..<2 {
            let read = send(.get)
            #expect(read.status == 503 && read.code == "SERVICE_UNAVAILABLE", "attempt \(attempt): \(read)")
            #expect(read.seconds < 3, "attempt \(attempt): \(read.seconds) s")
            let write = send(.post, json: #"{"name": "lost"}"#)
            #expect(write.status == 503 && write.code == "SERVICE_UNAVAILABLE", "attempt \(attempt): \(write)")
            #expect(write.seconds < 3, "attempt \(attempt): \(write.seconds) s")
        }
    }
}
