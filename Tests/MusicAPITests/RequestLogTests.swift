import Foundation
import HTTPTypes
import MusicAPI
import MusicCore
import Testing

extension CapturedLog {
    /// The request lines, each parsed as a JSON object of the members the
    /// worker's handler copies into its line (`JSONLogMembers`): `info "message":"request",...`.
    var requestLines: [[String: Any]] {
        text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix(#"info "message":"request","#) else { return nil }
            let json = "{" + line.dropFirst("info ".count) + "}"
            return (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any]
        }
    }
}

/// The request line of `MusicAPI.log`: valid JSON, the route's template (never
/// the path, the key, the query string or the body), the client's W3C trace-id
/// when its traceparent is well formed; the route and the user also as the
/// fields of the answer that nginx logs (and hides).
@Suite("The request log line")
struct RequestLogTests {
    let app: TestApp
    let log = CapturedLog()
    let api: MusicAPI
    static let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    init() throws {
        app = try TestApp()
        api = MusicAPI(store: app.store, clock: app.clock, logger: log.logger)
    }

    @Test("a routed request: every field, the route's template, the W3C trace-id; the answer carries route and user")
    func routedLine() throws {
        let collection = app.createCollection("Logged")
        let path = app.collectionsPath() + "/\(collection)"
        for _ in 0..<2 {  // the second is answered by the read cache
            let response = app.request(to: api, .get, path, key: app.aliceKey, headers: ["traceparent": Self.traceparent])
            #expect(response.status == 200)
            #expect(response.header("X-Music-Route") == "/v1/music/{organization_id}/collections/{collection_id}")
            #expect(response.header("X-Music-User") == app.alice)
        }
        let lines = log.requestLines
        try #require(lines.count == 2, "\(log.text)")
        for line in lines {
            #expect(Set(line.keys) == ["message", "trace_id", "method", "route", "status", "duration_ms", "user_id", "w3c_trace_id"])
            #expect(line["trace_id"] as? String == "req_0123456789abcdef0123456789abcdef")
            #expect(line["method"] as? String == "GET")
            #expect(line["route"] as? String == "/v1/music/{organization_id}/collections/{collection_id}")
            #expect(line["status"] as? Int == 200)
            #expect((line["duration_ms"] as? Double).map { $0 >= 0 } == true)
            #expect(line["user_id"] as? String == app.alice)
            #expect(line["w3c_trace_id"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
        }
        #expect(!log.text.contains(collection) && !log.text.contains(app.orgA))
    }

    @Test("no route: route, user and W3C trace-id are null; the answer carries neither field")
    func unroutedLine() throws {
        let response = app.request(to: api, .get, "/v1/music/nowhere/at/all/here", key: app.aliceKey,
                                   headers: ["traceparent": "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"])
        #expect(response.status == 404)
        #expect(response.header("X-Music-Route") == nil && response.header("X-Music-User") == nil)
        let line = try #require(log.requestLines.first)
        #expect(line["route"] is NSNull && line["user_id"] is NSNull && line["w3c_trace_id"] is NSNull)
        #expect(line["status"] as? Int == 404)
        #expect(!log.text.contains("nowhere"))
    }

    @Test("never the key, the body, the query string or a share token; a request id is JSON-escaped")
    func secretsNeverLogged() throws {
        let marker = "body-marker-7f3a"
        let created = app.request(to: api, .post, app.collectionsPath(), key: app.aliceKey, json: #"{"name": "\#(marker)"}"#)
        #expect(created.status == 201)
        let collection = try #require(created["id"] as? String)
        _ = app.request(to: api, .get, app.collectionsPath() + "?limit=7&query-marker-91c2=1", key: app.aliceKey)
        _ = app.request(to: api, .get, app.collectionsPath(), key: "mk_not-a-real-key-marker-5e")
        _ = app.addTrack(app.tracksA[0], to: collection)
        let link = app.request(to: api, .post, app.collectionsPath() + "/\(collection)/share", key: app.aliceKey, json: "{}")
        let token = try #require(link["token"] as? String)
        #expect(app.request(to: api, .get, "/v1/music/shared/\(token)").status == 200)
        let odd = #"id "quoted" \ back"# + "\n" + "slash\u{1}é"
        #expect(app.request(to: api, .get, "/v1/music/health", headers: ["X-Request-ID": odd]).status == 200)

        let text = log.text
        for secret in [app.aliceKey, marker, "query-marker-91c2", "limit=7", "mk_not-a-real-key-marker-5e", token] {
            #expect(!text.contains(secret), "\(secret) is in the log")
        }
        let lines = log.requestLines
        #expect(lines.count == text.split(separator: "\n").count, "a request line is not valid JSON: \(text)")
        #expect(lines.contains { $0["route"] as? String == "/v1/music/shared/{token}" && $0["status"] as? Int == 200 })
        #expect(lines.contains { $0["route"] as? String == "/v1/music/{organization_id}/collections" && $0["method"] as? String == "POST"
            && $0["status"] as? Int == 201 })
        // As the header field keeps it (a line break cannot be in one): quote, backslash, é.
        let stored = HTTPField(name: HTTPField.Name("X-Request-ID")!, value: odd).value
        #expect(stored.contains("\"") && stored.contains("\\") && stored.contains("é"))
        #expect(lines.contains { $0["trace_id"] as? String == "req_" + stored })
    }
}
