import Foundation
import MusicCore
import Testing

@Suite("Collections: create, list, get, update, delete")
struct CollectionTests {
    let app: TestApp
    init() throws { app = try TestApp() }

    @Test("create answers 201 with the collection, Location and ETag")
    func createAnswers201() {
        let response = app.request(.post, app.collectionsPath(), key: app.aliceKey,
                                   json: #"{"name": "Focus Sessions", "description": "Instrumental tracks for deep work"}"#)
        #expect(response.status == 201)
        let id = response["id"] as? String ?? ""
        #expect(Identifier.isWellFormed(id, prefix: "mcoll_"))
        #expect(response["name"] as? String == "Focus Sessions")
        #expect(response["description"] as? String == "Instrumental tracks for deep work")
        #expect(response.json["cover_track_id"] is NSNull)
        #expect(response.json["cover_image_url"] is NSNull)
        #expect(response["track_count"] as? Int == 0)
        #expect(response["created_at"] as? String == "2026-06-28T10:30:00Z")
        #expect(response["updated_at"] as? String == "2026-06-28T10:30:00Z")
        #expect(response.header("Location") == "/v1/music/\(app.orgA)/collections/\(id)")
        #expect(response.header("ETag")?.isEmpty == false)
        #expect(response.json.keys.sorted() == ["cover_image_url", "cover_track_id", "created_at", "description", "id", "name", "track_count", "updated_at"])
    }

    @Test("name takes 1 to 512 code points, counted as code points, not bytes")
    func nameLength() {
        for (name, status) in [(String(repeating: "a", count: 512), 201), (String(repeating: "a", count: 513), 422),
                               (String(repeating: "é", count: 512), 201), (String(repeating: "é", count: 513), 422),
                               (String(repeating: "🎵", count: 512), 201), ("", 422)] {
            let response = app.request(.post, app.collectionsPath(), key: app.aliceKey, json: jsonObject(["name": name]))
            #expect(response.status == status, "\(name.unicodeScalars.count) code points")
            if status == 422 {
                #expect(response.errorField == "name")
                #expect(response.error["system_message"] as? String == "name must be between 1 and 512 characters")
            }
        }
    }

    @Test("name rejects C0 control characters but tab and newline")
    func nameControlCharacters() {
        #expect(app.request(.post, app.collectionsPath(), key: app.aliceKey, json: jsonObject(["name": "a\u{1}b"])).errorField == "name")
        #expect(app.request(.post, app.collectionsPath(), key: app.aliceKey, json: jsonObject(["name": "a\u{0}b"])).errorField == "name")
        #expect(app.request(.post, app.collectionsPath(), key: app.aliceKey, json: jsonObject(["name": "a\rb"])).errorField == "name")
        #expect(app.request(.post, app.collectionsPath(), key: app.aliceKey, json: jsonObject(["name": "a\tb\nc"])).status == 201)
    }

    @Test("wrong types, missing fields and malformed JSON answer 422 naming the field")
    func wrongShapes() {
        let cases: [(String, String)] = [
            (#"{"name": 5}"#, "name"), (#"{"name": null}"#, "name"), (#"{}"#, "name"), (#"{"name": ["a"]}"#, "name"),
            (#"{"name": "a", "description": 1}"#, "description"), (#"{"name": "a", "cover_track_id": true}"#, "cover_track_id"),
            (#"{"name": "a", "cover_image_url": {}}"#, "cover_image_url"),
            (#"{"name": "a""#, "body"), (#"[1, 2]"#, "body"), (#""name""#, "body"), ("", "body"), ("\u{FF}", "body"),
        ]
        for (body, field) in cases {
            let response = app.request(.post, app.collectionsPath(), key: app.aliceKey, json: body)
            #expect(response.status == 422, "\(body)")
            #expect(response.errorCode == "VALIDATION_ERROR")
            #expect(response.error["type"] as? String == "validation_error")
            #expect(response.errorField == field, "\(body)")
        }
    }

    @Test("a body that is not JSON answers 415")
    func unsupportedMediaType() {
        let form = app.request(.post, app.collectionsPath(), key: app.aliceKey, json: "name=x", contentType: "application/x-www-form-urlencoded")
        #expect(form.status == 415)
        #expect(form.errorCode == "UNSUPPORTED_MEDIA_TYPE")
        #expect(app.request(.post, app.collectionsPath(), key: app.aliceKey, json: #"{"name":"x"}"#, contentType: nil).status == 415)
        #expect(app.request(.post, app.collectionsPath(), key: app.aliceKey, json: #"{"name":"x"}"#, contentType: "Application/JSON; charset=utf-8").status == 201)
    }

    @Test("description takes at most 4,096 code points")
    func descriptionLength() {
        let ok = app.request(.post, app.collectionsPath(), key: app.aliceKey, json: jsonObject(["name": "a", "description": String(repeating: "ü", count: 4096)]))
        #expect(ok.status == 201)
        let long = app.request(.post, app.collectionsPath(), key: app.aliceKey, json: jsonObject(["name": "a", "description": String(repeating: "d", count: 4097)]))
        #expect(long.errorField == "description")
    }

    @Test("cover_track_id must be a track of the organization, else 404 naming the field")
    func coverTrack() {
        let ok = app.request(.post, app.collectionsPath(), key: app.aliceKey, json: jsonObject(["name": "a", "cover_track_id": app.tracksA[1]]))
        #expect(ok.status == 201)
        #expect(ok["cover_track_id"] as? String == app.tracksA[1])
        for foreign in [app.trackB, "mtrack_000000000000"] {
            let response = app.request(.post, app.collectionsPath(), key: app.aliceKey, json: jsonObject(["name": "a", "cover_track_id": foreign]))
            #expect(response.status == 404)
            #expect(response.errorField == "cover_track_id")
        }
    }

    @Test("cover_image_url must be an absolute http(s) URL of at most 1,024 characters")
    func coverImageURL() {
        let long = "https://img.test/" + String(repeating: "a", count: 1024 - 17)
        for (url, status) in [("https://img.test/a.png", 201), ("http://img.test", 201), (long, 201), (long + "a", 422),
                              ("ftp://img.test/a.png", 422), ("/a.png", 422), ("https://", 422), ("https://img.test/a b", 422),
                              ("javascript:alert(1)", 422)] {
            let response = app.request(.post, app.collectionsPath(), key: app.aliceKey, json: jsonObject(["name": "a", "cover_image_url": url]))
            #expect(response.status == status, "\(url.prefix(40))")
            if status == 422 { #expect(response.errorField == "cover_image_url") }
        }
    }

    @Test("SQL-shaped strings are stored and returned verbatim")
    func sqlShapedStrings() {
        let name = "Robert'); DROP TABLE collections;--"
        let created = app.request(.post, app.collectionsPath(), key: app.aliceKey, json: jsonObject(["name": name, "description": "\" OR 1=1 --"]))
        #expect(created["name"] as? String == name)
        let fetched = app.request(.get, app.collectionsPath() + "/\(created["id"] as? String ?? "")", key: app.aliceKey)
        #expect(fetched["name"] as? String == name)
        #expect(fetched["description"] as? String == "\" OR 1=1 --")
    }

    @Test("list shows only the caller's collections, newest first, with real track counts")
    func listNewestFirst() {
        let first = app.createCollection("first")
        app.clock.advance()
        let second = app.createCollection("second")
        let third = app.createCollection("third") // same second as `second`: the later one first
        _ = app.createCollection("bob's", key: app.bobKey)
        _ = app.addTrack(app.tracksA[0], to: first)
        let response = app.request(.get, app.collectionsPath(), key: app.aliceKey)
        #expect(response.status == 200)
        #expect(response.items.compactMap { $0["id"] as? String } == [third, second, first])
        #expect(response.items.last?["track_count"] as? Int == 1)
        #expect(response["limit"] as? Int == 50)
        #expect(response["offset"] as? Int == 0)
        let page = app.request(.get, app.collectionsPath() + "?limit=1&offset=1", key: app.aliceKey)
        #expect(page.items.compactMap { $0["id"] as? String } == [second])
        #expect(page["limit"] as? Int == 1)
        #expect(page["offset"] as? Int == 1)
    }

    @Test("list rejects limit outside 1-100 and negative or non-numeric offsets")
    func listBounds() {
        for query in ["limit=0", "limit=101", "limit=abc", "limit=-1", "limit=", "limit=1.5", "limit=99999999999999999999999"] {
            let response = app.request(.get, app.collectionsPath() + "?" + query, key: app.aliceKey)
            #expect(response.status == 422, "\(query)")
            #expect(response.errorField == "limit")
        }
        for query in ["offset=-1", "offset=x"] {
            #expect(app.request(.get, app.collectionsPath() + "?" + query, key: app.aliceKey).errorField == "offset")
        }
        #expect(app.request(.get, app.collectionsPath() + "?limit=100&offset=1000000", key: app.aliceKey).status == 200)
        // Found by schemathesis: the spec and the code now agree on the largest offset.
        #expect(app.request(.get, app.collectionsPath() + "?offset=1000000000", key: app.aliceKey).status == 200)
        #expect(app.request(.get, app.collectionsPath() + "?offset=1000000001", key: app.aliceKey).errorField == "offset")
    }

    @Test("get answers the collection with its ETag")
    func getCollection() {
        let id = app.createCollection()
        let response = app.request(.get, app.collectionsPath() + "/\(id)", key: app.aliceKey)
        #expect(response.status == 200)
        #expect(response["id"] as? String == id)
        #expect(response.header("ETag") != nil)
    }

    @Test("update changes only the fields sent; null clears; name cannot be null")
    func updateSubset() {
        let created = app.request(.post, app.collectionsPath(), key: app.aliceKey,
                                  json: jsonObject(["name": "n", "description": "d", "cover_image_url": "https://i.test/x.png"]))
        let path = app.collectionsPath() + "/\(created["id"] as? String ?? "")"
        app.clock.advance(by: 60)
        let patched = app.request(.patch, path, key: app.aliceKey, json: #"{"description": null, "cover_track_id": "\#(app.tracksA[0])"}"#)
        #expect(patched.status == 200)
        #expect(patched["name"] as? String == "n")
        #expect(patched.json["description"] is NSNull)
        #expect(patched["cover_track_id"] as? String == app.tracksA[0])
        #expect(patched["cover_image_url"] as? String == "https://i.test/x.png")
        #expect(patched["updated_at"] as? String == "2026-06-28T10:31:00Z")
        #expect(patched["created_at"] as? String == "2026-06-28T10:30:00Z")
        #expect(patched.header("ETag") != created.header("ETag"))
        let nullName = app.request(.patch, path, key: app.aliceKey, json: #"{"name": null}"#)
        #expect(nullName.status == 422)
        #expect(nullName.errorField == "name")
        #expect(app.request(.patch, path, key: app.aliceKey, json: #"{"name": "x\u0007"}"#).errorField == "name")
        #expect(app.request(.patch, path, key: app.aliceKey, json: #"{"cover_track_id": "\#(app.trackB)"}"#).status == 404)
    }

    @Test("an update that changes nothing moves neither updated_at nor the ETag")
    func noOpUpdate() {
        let id = app.createCollection("same")
        let path = app.collectionsPath() + "/\(id)"
        let before = app.request(.get, path, key: app.aliceKey)
        app.clock.advance(by: 60)
        for body in [#"{}"#, #"{"name": "same"}"#, #"{"description": null}"#] {
            let after = app.request(.patch, path, key: app.aliceKey, json: body)
            #expect(after.status == 200)
            #expect(after["updated_at"] as? String == before["updated_at"] as? String)
            #expect(after.header("ETag") == before.header("ETag"))
        }
    }

    @Test("update honours If-Match: a stale ETag answers 412, the current one succeeds")
    func updateIfMatch() {
        let id = app.createCollection()
        let path = app.collectionsPath() + "/\(id)"
        let etag = app.request(.get, path, key: app.aliceKey).header("ETag") ?? ""
        let first = app.request(.patch, path, key: app.aliceKey, json: #"{"name": "one"}"#, headers: ["If-Match": etag])
        #expect(first.status == 200)
        let stale = app.request(.patch, path, key: app.aliceKey, json: #"{"name": "two"}"#, headers: ["If-Match": etag])
        #expect(stale.status == 412)
        #expect(stale.errorCode == "PRECONDITION_FAILED")
        #expect(app.request(.get, path, key: app.aliceKey)["name"] as? String == "one")
        let current = first.header("ETag") ?? ""
        #expect(app.request(.patch, path, key: app.aliceKey, json: #"{"name": "two"}"#, headers: ["If-Match": "\"x\", \(current)"]).status == 200)
        #expect(app.request(.patch, path, key: app.aliceKey, json: #"{"name": "three"}"#, headers: ["If-Match": "*"]).status == 200)
        #expect(app.request(.patch, path, key: app.aliceKey, json: #"{"name": "four"}"#, headers: ["If-Match": "W/\(current)"]).status == 412)
    }

    @Test("delete is soft: the collection vanishes everywhere, a second delete is 404, tracks stay")
    func softDelete() throws {
        let id = app.createCollection()
        _ = app.addTrack(app.tracksA[0], to: id)
        let path = app.collectionsPath() + "/\(id)"
        let deleted = app.request(.delete, path, key: app.aliceKey)
        #expect(deleted.status == 200)
        #expect(deleted.bodyText == #"{"success":true,"id":"\#(id)","detail":"Collection deleted."}"#)
        #expect(app.request(.get, path, key: app.aliceKey).status == 404)
        #expect(app.request(.delete, path, key: app.aliceKey).status == 404)
        #expect(app.request(.get, path + "/tracks", key: app.aliceKey).status == 404)
        #expect(app.addTrack(app.tracksA[1], to: id).status == 404)
        #expect(app.request(.get, app.collectionsPath(), key: app.aliceKey).items.isEmpty)
        let stillThere = try app.store.read { try $0.track(id: app.tracksA[0], organizationID: app.orgA) }
        #expect(stillThere != nil)
        let otherCollection = app.createCollection()
        #expect(app.addTrack(app.tracksA[0], to: otherCollection).status == 200)
    }
}

/// A JSON object text, with the strings escaped properly.
func jsonObject(_ fields: [String: String]) -> String {
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
}
