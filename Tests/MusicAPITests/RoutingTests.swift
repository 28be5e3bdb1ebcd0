import HTTPTypes
import Logging
import MusicAPI
import MusicCore
import Testing

@Suite("Routing and the error envelope")
struct RoutingTests {
    let app: TestApp
    init() throws { app = try TestApp() }

    @Test("health answers ok without a key")
    func healthAnswersOk() {
        let response = app.request(.get, "/v1/music/health")
        #expect(response.status == 200)
        #expect(response.bodyText == #"{"status":"ok"}"#)
        #expect(response.header("X-Request-ID") == "req_0123456789abcdef0123456789abcdef")
    }

    @Test("health answers 503 when the database cannot be reached")
    func healthAnswers503WithoutDatabase() {
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        let api = MusicAPI(store: UnreachableStore(), logger: quiet)
        var fields = HTTPFields()
        fields[HTTPField.Name("X-Request-ID")!] = "abc"
        let response = TestResponse(api.respond(to: HTTPRequest(method: .get, scheme: "https", authority: "x", path: "/v1/music/health", headerFields: fields), body: []))
        #expect(response.status == 503)
        #expect(response.errorCode == "SERVICE_UNAVAILABLE")
    }

    @Test("an unknown path answers the 404 envelope whose trace id is the X-Request-ID")
    func unknownPathIs404Envelope() {
        let response = app.request(.get, "/v2/elsewhere")
        #expect(response.status == 404)
        #expect(response["success"] as? Bool == false)
        let error = response.error
        #expect(error["code"] as? String == "RESOURCE_NOT_FOUND")
        #expect(error["type"] as? String == "client_error")
        #expect(error["status"] as? Int == 404)
        #expect(error["message"] as? String == "The requested resource was not found.")
        #expect(error["trace_id"] as? String == "req_0123456789abcdef0123456789abcdef")
        #expect(error["trace_id"] as? String == response.header("X-Request-ID"))
        #expect((error["timestamp"] as? String)?.hasSuffix("Z") == true)
        #expect(error["details"] is [String: Any])
    }

    @Test("a known path with the wrong method answers 405 with Allow")
    func wrongMethodIs405() {
        let response = app.request(.put, app.collectionsPath(), key: app.aliceKey)
        #expect(response.status == 405)
        #expect(response.errorCode == "METHOD_NOT_ALLOWED")
        #expect(response.header("Allow") == "GET, POST")
        let reorder = app.request(.post, app.collectionsPath() + "/mcoll_000000000000/order", key: app.aliceKey)
        #expect(reorder.header("Allow") == "PATCH")
    }

    @Test("paths with empty segments, bad escapes or invalid UTF-8 match no route")
    func malformedPathsAre404() {
        for path in ["/v1/music//collections", "/v1/music/%zz/collections", "/v1/music/%ff%fe/collections", "/v1/music/health/"] {
            #expect(app.request(.get, path, key: app.aliceKey).status == 404, "\(path)")
        }
    }

    @Test("percent-encoded path segments are decoded before matching")
    func percentEncodedSegmentsAreDecoded() {
        let response = app.request(.get, "/v1/music/\(app.orgA)/%63ollections", key: app.aliceKey)
        #expect(response.status == 200)
    }

    @Test("an oversized body answers the 413 envelope")
    func oversizedBodyIs413() {
        var fields = HTTPFields()
        fields[HTTPField.Name("X-Request-ID")!] = "big"
        let response = TestResponse(app.api.respondToOversizedBody(of: HTTPRequest(method: .post, scheme: "https", authority: "x", path: "/", headerFields: fields)))
        #expect(response.status == 413)
        #expect(response.errorCode == "PAYLOAD_TOO_LARGE")
        #expect(response.error["trace_id"] as? String == "req_big")
    }

    @Test("a request the worker cannot parse answers a 400 envelope")
    func malformedRequestIs400() {
        let response = TestResponse(app.api.respondToMalformedRequest(requestID: "bad"))
        #expect(response.status == 400)
        #expect(response.errorCode == "BAD_REQUEST")
        #expect(response.header("X-Request-ID") == "req_bad")
    }
}

/// A store whose database cannot be reached: for the 503 of the health check.
struct UnreachableStore: Store {
    struct Unreachable: Error {}
    func read<T>(_ body: (any StoreReader) throws -> T) throws -> T { throw Unreachable() }
    func write<T>(_ body: (any StoreWriter) throws -> T) throws -> T { throw Unreachable() }
    func ping() throws { throw Unreachable() }
}

@Suite("The OpenAPI document")
struct OpenAPIRouteTests {
    @Test("it is served without a key when the worker was given one, else 404")
    func served() throws {
        let app = try TestApp()
        #expect(app.request(.get, "/v1/music/openapi.yaml").status == 404)
        let api = MusicAPI(store: app.store, openAPIDocument: Array("openapi: 3.1.0\n".utf8))
        var fields = HTTPFields()
        fields[HTTPField.Name("X-Request-ID")!] = "doc"
        let response = api.respond(to: HTTPRequest(method: .get, scheme: "https", authority: "x", path: "/v1/music/openapi.yaml", headerFields: fields), body: [])
        #expect(response.head.status == .ok)
        #expect(response.head.headerFields[.contentType] == "application/yaml")
        #expect(response.bodyText == "openapi: 3.1.0\n")
    }
}
