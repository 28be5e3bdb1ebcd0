import Foundation
import MusicCore
import Testing

/// What schemathesis's positive_data_acceptance found: schema-valid requests
/// the server refused.
@Suite("Contract: what the schema admits, the server accepts")
struct ContractFixTests {
    let app: TestApp
    init() throws { app = try TestApp() }

    @Test("expires_in_days: any integer >= 1 JSON carries is accepted and above 90 becomes 90")
    func hugeExpiryClamps() {
        let collection = app.createCollection()
        let path = app.collectionsPath() + "/\(collection)/share"
        let ninetyDays = "2026-09-26T10:30:00Z"
        for days in ["3669259122636726272", "9223372036854775807", "9223372036854775808", "18446744073709551616",
                     "1e300", "1.7976931348623157e308", "91", "90", "90.0", "1e2"] {
            let response = app.request(.post, path, key: app.aliceKey, json: #"{"expires_in_days": \#(days)}"#)
            #expect(response.status == 201, "\(days)")
            #expect(response["expires_at"] as? String == ninetyDays, "\(days)")
        }
        #expect(app.request(.post, path, key: app.aliceKey, json: #"{"expires_in_days": 2}"#)["expires_at"] as? String
            == "2026-06-30T10:30:00Z")
        for days in ["0", "-1", "-9223372036854775809", "-1e300", "1.5", "1e-3"] {
            let response = app.request(.post, path, key: app.aliceKey, json: #"{"expires_in_days": \#(days)}"#)
            #expect(response.status == 422, "\(days)")
            #expect(response.errorField == "expires_in_days", "\(days)")
        }
    }

    /// openapi.yaml's pattern for cover_image_url, as written there.
    static func documentedCoverImageURLPattern() throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("openapi.yaml")
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0 == "    CoverImageURL:" })
        let line = try #require(lines[start...].first { $0.hasPrefix("      pattern: \"") })
        // A YAML double-quoted scalar whose only escape is "\\".
        let quoted = line.dropFirst("      pattern: \"".count).dropLast()
        return quoted.replacingOccurrences(of: "\\\\", with: "\\")
    }

    @Test("cover_image_url: the server accepts exactly what openapi.yaml's pattern admits")
    func coverImageURLPatternAgrees() throws {
        let pattern = try Self.documentedCoverImageURLPattern()
        // ICU reads \xHH, \uHHHH and classes code point by code point, as ECMAScript with the u flag does.
        // ECMAScript's final "$" is the end of the input, ICU's also before a final line break: "\z" there.
        #expect(pattern.hasSuffix("$"))
        let regex = try NSRegularExpression(pattern: pattern.dropLast() + "\\z")
        func documented(_ url: String) -> Bool {
            regex.firstMatch(in: url, range: NSRange(url.startIndex..., in: url)) != nil
        }
        var scalars: [Unicode.Scalar] = (0...0x3100).compactMap(Unicode.Scalar.init)
        scalars += [0xFEFF, 0xFFFD, 0xFFFF, 0x1F3B5, 0x10FFFF].compactMap(Unicode.Scalar.init)
        var samples = ["http://:80", "http://u@/x", "http://u@:1/x", "http://u@h:1/x", "http://a@b@c", "HTTP://A", "hTtPs://a",
                       "http:/a", "http://", "https://", "ftp://a", "http://a/\u{301}b@", "http://\u{301}a", "http://a?b@",
                       "http://[::1", "https://img.test/a.png", "http://a#", "http://a/", "http://a/ b", "https://img.test/a\tb"]
        for scalar in scalars {
            let c = String(scalar)
            samples += ["http://a" + c, "http://" + c + "a", "https://a/" + c, "http://a@" + c, c + "http://a", "http://a" + c + "@b"]
        }
        var disagreements: [String] = []
        for url in samples {
            let admitted = documented(url)
            let accepted = (try? CollectionRules.checkCoverImageURL(url)) != nil
            if admitted != accepted {
                disagreements.append("\(url.unicodeScalars.map { String($0.value, radix: 16) }) pattern \(admitted) server \(accepted)")
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10)) and \(max(0, disagreements.count - 10)) more")
        // And through the API: a C0 control character is a 422, a plain URL a 201.
        let refused = app.request(.post, app.collectionsPath(), key: app.aliceKey,
                                  json: jsonObject(["name": "a", "cover_image_url": "http://a\u{1}b"]))
        #expect(refused.status == 422)
        #expect(refused.errorField == "cover_image_url")
        let accepted = app.request(.post, app.collectionsPath(), key: app.aliceKey,
                                   json: jsonObject(["name": "a", "cover_image_url": "https://x.test/\u{1F3B5}"]))
        #expect(accepted.status == 201)
    }
}
