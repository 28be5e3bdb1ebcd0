import HTTPTypes
import Logging
import MusicAPI
import MusicCore
import Testing

/// The worker reads a path as nginx does (each segment decoded once), refuses
/// what could be read two ways, and never logs a share token.
@Suite("Path decoding and the log")
struct PathDecodingTests {
    let app: TestApp
    let log = CapturedLog()
    let api: MusicAPI

    init() throws {
        app = try TestApp()
        api = MusicAPI(store: app.store, clock: app.clock, logger: log.logger)
    }

    func shareToken() -> String {
        let collection = app.createCollection("Shared")
        _ = app.addTrack(app.tracksA[0], to: collection)
        let link = app.request(.post, app.collectionsPath() + "/\(collection)/share", key: app.aliceKey, json: "{}")
        return link["token"] as? String ?? "missing"
    }

    @Test("encoded slashes and backslashes and dot segments, raw or encoded, are refused with the 400 envelope")
    func ambiguousPathsRefused() {
        let org = app.orgA
        let paths = [
            "/v1/music/\(org)/tracks/%2F..%2F..%2Fshared%2Fx",
            "/v1/music/\(org)/collections/%2e%2e/x",
            "/v1/music/\(org)/collections/%2E%2e/x",
            "/v1/music/\(org)/collections/.%2E/x",
            "/v1/music/\(org)/collections/%2e",
            "/v1/music/\(org)/collections/../collections",
            "/v1/music/\(org)/./collections",
            "/v1/music/\(org)/tracks/a%2fb",
            "/v1/music/\(org)/tracks/a%5Cb",
            "/v1/music/\(org)/tracks/a%5cb",
            "/v1/music/\(org)/tracks/a\\b",
            "/v1/music/shared/%2e%2e",
        ]
        for path in paths {
            for method: HTTPRequest.Method in [.get, .post, .delete] {
                let response = app.request(to: api, method, path, key: app.aliceKey,
                                           json: method == .post ? #"{"track_id": "x"}"# : nil)
                #expect(response.status == 400, "\(method) \(path)")
                #expect(response["success"] as? Bool == false, "\(path)")
                #expect(response.errorCode == "BAD_REQUEST", "\(path)")
            }
        }
        // Three dots, dots inside a segment and a doubly encoded dot are plain segments.
        #expect(app.request(to: api, .get, "/v1/music/\(org)/tracks/...", key: app.aliceKey).errorCode == "RESOURCE_NOT_FOUND")
        #expect(app.request(to: api, .get, "/v1/music/\(org)/tracks/a.b", key: app.aliceKey).errorCode == "RESOURCE_NOT_FOUND")
        #expect(app.request(to: api, .get, "/v1/music/\(org)/tracks/%252e%252e", key: app.aliceKey).errorCode == "RESOURCE_NOT_FOUND")
    }

    @Test("a percent-encoded spelling routes as its decoded path")
    func decodedOnceForRouting() {
        let track = app.tracksA[0]
        let response = app.request(to: api, .get, "/v1/music/\(app.orgA)/%74racks/\(track)", key: app.aliceKey)
        #expect(response.status == 200)
        #expect(response["id"] as? String == track)
    }

    @Test("/v1/music/%73hared/TOKEN is the shared view, and no log line holds the token")
    func encodedSharedIsMasked() {
        let token = shareToken()
        let spellings = [
            "/v1/music/shared/\(token)",
            "/v1/music/%73hared/\(token)",
            "/v1/music/%73%68%61%72%65%64/\(token)",
            "/v1/%6Dusic/shared/\(token)",
            "/v1/music/shared/\(token.prefix(3))%\(String(token.utf8[token.utf8.index(token.utf8.startIndex, offsetBy: 3)], radix: 16))\(token.dropFirst(4))",
        ]
        for path in spellings {
            let view = app.request(to: api, .get, path)
            #expect(view.status == 200, "\(path)")
            #expect(view["kind"] as? String == "collection", "\(path)")
        }
        // Wrong method, oversized body, paths no route takes, refused paths.
        _ = app.request(to: api, .post, "/v1/music/%73hared/\(token)", json: "{}")
        var fields = HTTPFields()
        fields[HTTPField.Name("X-Request-ID")!] = "big"
        _ = api.respondToOversizedBody(of: HTTPRequest(method: .post, scheme: "https", authority: "x",
                                                       path: "/v1/music/%73hared/\(token)", headerFields: fields))
        for path in ["/v1/music//shared/\(token)", "/v1/music/shared/\(token)/", "/v1/music/%73hared/\(token)/x",
                     "/v1/music/shared/\(token)/%2e%2e", "/v1/music/x/../shared/\(token)", "/\(token)"] {
            #expect(app.request(to: api, .get, path).status >= 400, "\(path)")
        }
        let text = log.text
        #expect(text.contains(#""route":"/v1/music/shared/{token}""#))
        #expect(text.contains(#""status":413"#))
        #expect(!text.contains(token))
        #expect(!text.contains(String(token.dropFirst(4))))
    }

    @Test("other paths are logged as their route's template")
    func otherPathsLogged() {
        let path = "/v1/music/\(app.orgA)/tracks/\(app.tracksA[0])"
        #expect(app.request(to: api, .get, path, key: app.aliceKey).status == 200)
        #expect(log.text.contains(#""route":"/v1/music/{organization_id}/tracks/{track_id}","status":200"#))
        #expect(!log.text.contains(path))
    }
}
