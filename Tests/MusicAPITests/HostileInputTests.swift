import Foundation
import HTTPTypes
import StoreTestSupport
import Testing

/// Random and mutated requests, from a fixed seed, through the whole handler:
/// every answer is a valid envelope or a valid success, and nothing crashes.
@Suite("Hostile input")
struct HostileInputTests {
    static let bodies: [String] = [
        "{", "}", "[]", "null", "true", "1e999", "-0", "\"\\ud800\"", "{\"name\": \"\\u0000\"}", "{\"name\": 1e309}",
        "{\"name\": \"a\", \"name\": \"b\"}", "{\"name\": [[[[[[[[[[]]]]]]]]]]}", String(repeating: "[", count: 5000),
        "{\"track_id\": {\"$ne\": null}}", "{\"ordered_track_ids\": [1, true, null, {}]}", "{\"ordered_track_ids\": \"x\"}",
        "{\"name\": \"' OR 1=1; --\"}", "{\"expires_in_days\": 1.0e20}", "{\"visibility\": []}", "\u{FEFF}{}",
        "{\"name\": \"\(String(repeating: "🎵", count: 600))\"}", "{\"cover_image_url\": \"http://[::1\"}",
    ]

    static let paths: [String] = [
        "/v1/music/ORG/collections", "/v1/music/ORG/collections/C", "/v1/music/ORG/collections/C/tracks",
        "/v1/music/ORG/collections/C/tracks/T", "/v1/music/ORG/collections/C/order", "/v1/music/ORG/collections/C/share",
        "/v1/music/ORG/share/S", "/v1/music/ORG/tracks", "/v1/music/ORG/tracks/T", "/v1/music/shared/TOKEN", "/v1/music/health",
    ]

    static let pieces: [String] = [
        "%00", "%ff", "%2F", "..", "%", "%%", "?", "&", "=", "limit=-1", "offset=1e3", "limit=99999999999999999999",
        "collection_id=", String(repeating: "a", count: 3000), "\u{202E}", "mcoll_000000000000", "é", "+", "#",
    ]

    @Test("10,000 random requests from a fixed seed all get a well-formed answer")
    func randomRequests() throws {
        let app = try TestApp()
        let collection = app.createCollection("target")
        var random = SeededGenerator(state: 20_261_122)
        let methods: [HTTPRequest.Method] = [.get, .post, .patch, .delete, .put, .head, .options]
        let keys: [String?] = [nil, app.aliceKey, app.bobKey, app.carolKey, "ak_" + String(repeating: "x", count: 40), ""]
        for index in 0..<10_000 {
            var path = Self.paths.randomElement(using: &random)!
                .replacingOccurrences(of: "ORG", with: Bool.random(using: &random) ? app.orgA : Self.pieces.randomElement(using: &random)!)
                .replacingOccurrences(of: "C", with: Bool.random(using: &random) ? collection : Self.pieces.randomElement(using: &random)!)
                .replacingOccurrences(of: "TOKEN", with: Self.pieces.randomElement(using: &random)!)
                .replacingOccurrences(of: "/T", with: "/" + (Bool.random(using: &random) ? app.tracksA[0] : Self.pieces.randomElement(using: &random)!))
            if Bool.random(using: &random) {
                path += "?" + (0..<Int.random(in: 1...4, using: &random)).map { _ in Self.pieces.randomElement(using: &random)! }.joined(separator: "&")
            }
            var body = Self.bodies.randomElement(using: &random)!
            if Int.random(in: 0..<4, using: &random) == 0 {
                // Mutate a byte of the body.
                var bytes = Array(body.utf8)
                if !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random) }
                body = String(decoding: bytes, as: UTF8.self)
            }
            let contentType = ["application/json", "text/plain", "application/json; charset=utf-16", ""].randomElement(using: &random)!
            let response = app.request(
                methods.randomElement(using: &random)!, path, key: keys.randomElement(using: &random)!,
                json: Bool.random(using: &random) ? body : nil, contentType: contentType.isEmpty ? nil : contentType,
                headers: Bool.random(using: &random) ? ["If-Match": Self.pieces.randomElement(using: &random)!] : [:])
            try check(response, case: index)
        }
    }

    @Test("invalid UTF-8 and NUL bytes in bodies are a 422 on body, never a crash")
    func invalidBytes() throws {
        let app = try TestApp()
        var fields = HTTPFields()
        fields[HTTPField.Name("X-Request-ID")!] = "bytes"
        fields[HTTPField.Name("X-API-Key")!] = app.aliceKey
        fields[.contentType] = "application/json"
        for body: [UInt8] in [[0xFF, 0xFE], [0x7B, 0x00, 0x7D], [0x7B, 0x22, 0x6E, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D], [0x80]] {
            let request = HTTPRequest(method: .post, scheme: "https", authority: "x", path: app.collectionsPath(), headerFields: fields)
            let response = TestResponse(app.api.respond(to: request, body: body))
            #expect(response.status == 422)
            #expect(response.errorField == "body")
        }
    }

    /// A success is JSON (or the OpenAPI YAML); anything else is the envelope,
    /// with a trace id equal to X-Request-ID and a known status.
    func check(_ response: TestResponse, case index: Int) throws {
        #expect(response.header("X-Request-ID") == "req_0123456789abcdef0123456789abcdef", "case \(index)")
        if response.status < 300 {
            #expect(!response.json.isEmpty, "case \(index): \(response.bodyText.prefix(120))")
            return
        }
        #expect([400, 401, 403, 404, 405, 409, 412, 413, 415, 422].contains(response.status), "case \(index): \(response.status)")
        #expect(response.json["success"] as? Bool == false, "case \(index)")
        #expect(response.error["status"] as? Int == response.status, "case \(index)")
        #expect(response.error["trace_id"] as? String == response.header("X-Request-ID"), "case \(index)")
    }
}
