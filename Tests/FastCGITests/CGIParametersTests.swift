import FastCGI
import HTTPTypes
import Testing

@Suite("CGI parameters become an HTTP request")
struct CGIParametersTests {
    let parameters = CGIParameters(pairs: [
        ("REQUEST_METHOD", "POST"),
        ("REQUEST_URI", "/v1/music/org_1/collections?limit=5"),
        ("QUERY_STRING", "limit=5"),
        ("CONTENT_TYPE", "application/json"),
        ("CONTENT_LENGTH", "17"),
        ("REQUEST_ID", "4f1c0a9e2b8d4a1f9c7e2b8d4a1f9c7e"),
        ("HTTP_X_API_KEY", "ak_secret"),
        ("HTTP_AUTHORIZATION", "Bearer ak_other"),
        ("HTTP_HOST", "api.test"),
        ("HTTP_X_REQUEST_ID", "spoofed"),
        ("HTTP_PROXY", "http://evil.test"),
        ("HTTPS", "on"),
    ])

    @Test("method, target, headers, content type and length are copied")
    func copiesEverything() throws {
        let request = try #require(parameters.httpRequest(requestID: parameters.requestID))
        #expect(request.method == .post)
        #expect(request.path == "/v1/music/org_1/collections?limit=5")
        #expect(request.scheme == "https")
        #expect(request.authority == "api.test")
        #expect(request.headerFields[HTTPField.Name("X-API-Key")!] == "ak_secret")
        #expect(request.headerFields[.authorization] == "Bearer ak_other")
        #expect(request.headerFields[.contentType] == "application/json")
        #expect(request.headerFields[.contentLength] == "17")
        #expect(parameters.contentLength == .declared(17))
    }

    @Test("the web server's request id wins over a client's X-Request-ID, and HTTP_PROXY is dropped")
    func requestIDAndHttpoxy() throws {
        let request = try #require(parameters.httpRequest(requestID: parameters.requestID))
        #expect(request.headerFields[values: .xRequestID] == ["4f1c0a9e2b8d4a1f9c7e2b8d4a1f9c7e"])
        #expect(request.headerFields[HTTPField.Name("Proxy")!] == nil)
    }

    @Test("a missing or odd REQUEST_ID is replaced by a random 32-hex id")
    func generatedRequestID() {
        for pairs in [[("REQUEST_METHOD", "GET")], [("REQUEST_ID", "bad id\n")]] {
            let id = CGIParameters(pairs: pairs).requestID
            #expect(id.count == 32)
            #expect(id.allSatisfy { $0.isHexDigit })
        }
    }

    @Test("CONTENT_LENGTH that is not a decimal number is invalid; an empty one is absent")
    func contentLengthParsing() {
        for text in ["-1", "1e3", "abc", " 5", "99999999999999999999"] {
            #expect(CGIParameters(pairs: [("CONTENT_LENGTH", text)]).contentLength == .invalid, "\(text)")
        }
        #expect(CGIParameters(pairs: [("CONTENT_LENGTH", "")]).contentLength == .absent)
        #expect(CGIParameters(pairs: []).contentLength == .absent)
    }

    @Test("no method or an invalid method token gives no request")
    func invalidMethod() {
        #expect(CGIParameters(pairs: [("REQUEST_URI", "/")]).httpRequest(requestID: "x") == nil)
        #expect(CGIParameters(pairs: [("REQUEST_METHOD", "GE T")]).httpRequest(requestID: "x") == nil)
    }

    @Test("without REQUEST_URI the target is SCRIPT_NAME and QUERY_STRING")
    func fallbackTarget() {
        let request = CGIParameters(pairs: [("REQUEST_METHOD", "GET"), ("SCRIPT_NAME", "/v1/music/health"), ("QUERY_STRING", "a=1")])
            .httpRequest(requestID: "x")
        #expect(request?.path == "/v1/music/health?a=1")
    }
}
