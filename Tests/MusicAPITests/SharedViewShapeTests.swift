import Foundation
import HTTPTypes
import MusicAPI
import MusicCore
import Testing

/// The shared view, key by key, for both kinds of link (the reference API's
/// "Open a shared link" and "Share a track"), and the track share's rules.
@Suite("Shared view shapes")
struct SharedViewShapeTests {
    static let viewKeys = ["available", "collection", "kind", "message", "share", "track", "tracks"]
    static let trackKeys = ["engine", "id", "instrumental", "licence", "measured_duration_seconds", "mode", "playback_url", "title"]
    static let licenceKeys = ["commercial_use", "licence_class", "licence_version", "requires_attribution"]
    static let shareKeys = ["target_type", "visibility", "expires_at"].sorted()
    static let createdKeys = ["created_at", "expires_at", "id", "target_type", "token", "url", "visibility"]

    let app: TestApp
    let collection: String
    /// Alice's tracks with their own facts: 2:49.5 instrumental cc_by 2.1, and plain defaults.
    let special: Track, plain: Track

    init() throws {
        app = try TestApp()
        let made = try app.admin.createTracks([
            .init(title: "Rain \"study\" <1>", durationSeconds: 169.5, instrumental: true, licenceClass: "cc_by",
                  engine: "studio-v2", mode: "audio_to_music", licenceVersion: "2.1"),
            .init(title: "Plain", licenceClass: "non_commercial"),
        ], organizationID: app.orgA, ownerID: app.alice)
        special = made[0]
        plain = made[1]
        collection = app.createCollection("Evening")
        _ = app.request(.patch, app.collectionsPath() + "/\(collection)", key: app.aliceKey, json: #"{"description": "Calm"}"#)
        _ = app.addTrack(special.id, to: collection)
        _ = app.addTrack(plain.id, to: collection)
    }

    func shareTrack(_ track: String, key: String? = nil, json: String? = nil) -> TestResponse {
        app.request(.post, "/v1/music/\(app.orgA)/tracks/\(track)/share", key: key ?? app.aliceKey, json: json)
    }

    func shareCollection(json: String? = nil) -> TestResponse {
        app.request(.post, app.collectionsPath() + "/\(collection)/share", key: app.aliceKey, json: json)
    }

    func open(_ token: String, query: String = "") -> TestResponse {
        app.request(.get, "/v1/music/shared/\(token)" + query)
    }

    func object(_ value: Any?) -> [String: Any] { value as? [String: Any] ?? [:] }

    /// A track view, key by key, against the track it shows.
    func expectTrackView(_ view: [String: Any], _ track: Track, position: Int?, sourceLocation: SourceLocation = #_sourceLocation) {
        let keys = (Self.trackKeys + (position == nil ? [] : ["position"])).sorted()
        #expect(view.keys.sorted() == keys, sourceLocation: sourceLocation)
        #expect(view["id"] as? String == track.id, sourceLocation: sourceLocation)
        #expect(view["title"] as? String == track.title, sourceLocation: sourceLocation)
        #expect(view["engine"] as? String == track.engine, sourceLocation: sourceLocation)
        #expect(view["mode"] as? String == track.mode, sourceLocation: sourceLocation)
        if let seconds = track.measuredDurationSeconds {
            #expect(view["measured_duration_seconds"] as? Double == seconds, sourceLocation: sourceLocation)
        } else {
            #expect(view["measured_duration_seconds"] is NSNull, sourceLocation: sourceLocation)
        }
        #expect(view["instrumental"] as? Bool == track.instrumental, sourceLocation: sourceLocation)
        #expect(view["playback_url"] is NSNull, sourceLocation: sourceLocation)
        let licence = object(view["licence"])
        #expect(licence.keys.sorted() == Self.licenceKeys, sourceLocation: sourceLocation)
        #expect(licence["licence_class"] as? String == track.licenceClass, sourceLocation: sourceLocation)
        #expect(licence["licence_version"] as? String == track.licenceVersion, sourceLocation: sourceLocation)
        #expect(licence["commercial_use"] as? Bool == track.commercialUse, sourceLocation: sourceLocation)
        #expect(licence["requires_attribution"] as? Bool == track.requiresAttribution, sourceLocation: sourceLocation)
        #expect(view["position"] as? Int == position, sourceLocation: sourceLocation)
    }

    func expectShare(_ view: TestResponse, type: String, visibility: String, expiresAt: String?,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        let share = object(view["share"])
        #expect(share.keys.sorted() == Self.shareKeys, sourceLocation: sourceLocation)
        #expect(share["target_type"] as? String == type, sourceLocation: sourceLocation)
        #expect(share["visibility"] as? String == visibility, sourceLocation: sourceLocation)
        if let expiresAt {
            #expect(share["expires_at"] as? String == expiresAt, sourceLocation: sourceLocation)
        } else {
            #expect(share["expires_at"] is NSNull, sourceLocation: sourceLocation)
        }
    }

    @Test("a collection's view: every key, the collection, and each track with its facts, licence and position")
    func collectionView() {
        let token = shareCollection()["token"] as? String ?? ""
        let view = open(token)
        #expect(view.status == 200)
        #expect(view.json.keys.sorted() == Self.viewKeys)
        #expect(view["kind"] as? String == "collection")
        #expect(view["available"] as? Bool == true)
        #expect(view.json["message"] is NSNull)
        expectShare(view, type: "collection", visibility: "link_only", expiresAt: nil)
        #expect(view.json["track"] is NSNull)
        let shown = object(view["collection"])
        #expect(shown.keys.sorted() == ["description", "id", "name"])
        #expect(shown["id"] as? String == collection)
        #expect(shown["name"] as? String == "Evening")
        #expect(shown["description"] as? String == "Calm")
        let tracks = view["tracks"] as? [[String: Any]] ?? []
        #expect(tracks.count == 2)
        if tracks.count == 2 {
            expectTrackView(tracks[0], special, position: 0)
            expectTrackView(tracks[1], plain, position: 1)
        }
        // A page adds its limit and offset, nothing else.
        let page = open(token, query: "?limit=1&offset=1")
        #expect(page.json.keys.sorted() == (Self.viewKeys + ["limit", "offset"]).sorted())
        #expect((page["tracks"] as? [[String: Any]] ?? []).map { $0["id"] as? String } == [plain.id])
    }

    @Test("a track's share answers as a collection's, with target_type track; its view has every key and the track")
    func trackView() {
        let created = shareTrack(special.id, json: #"{"visibility": "public", "expires_in_days": 30}"#)
        #expect(created.status == 201)
        #expect(created.json.keys.sorted() == Self.createdKeys)
        let token = created["token"] as? String ?? ""
        #expect(ShareToken.isWellFormed(token))
        #expect((created["id"] as? String)?.hasPrefix("mslink_") == true)
        #expect(created["url"] as? String == "https://localhost/v1/music/shared/\(token)")
        #expect(created["target_type"] as? String == "track")
        #expect(created["visibility"] as? String == "public")
        #expect(created["expires_at"] as? String == "2026-07-28T10:30:00Z")
        #expect(created["created_at"] as? String == "2026-06-28T10:30:00Z")

        let view = open(token)
        #expect(view.status == 200)
        #expect(view.json.keys.sorted() == Self.viewKeys)
        #expect(view["kind"] as? String == "track")
        #expect(view["available"] as? Bool == true)
        #expect(view.json["message"] is NSNull)
        expectShare(view, type: "track", visibility: "public", expiresAt: "2026-07-28T10:30:00Z")
        expectTrackView(object(view["track"]), special, position: nil)
        #expect(view.json["collection"] is NSNull)
        #expect(view.json["tracks"] is NSNull)
        // Paging parameters are checked as for a collection, and change nothing here.
        let paged = open(token, query: "?limit=1")
        #expect(paged.status == 200)
        #expect(paged.json.keys.sorted() == Self.viewKeys)
        #expect(open(token, query: "?limit=0").status == 422)
        // The defaults, as for a collection.
        let defaults = shareTrack(plain.id)
        #expect(defaults.status == 201)
        #expect(defaults["visibility"] as? String == "link_only")
        #expect(defaults.json["expires_at"] is NSNull)
        expectTrackView(object(open(defaults["token"] as? String ?? "")["track"]), plain, position: nil)
    }

    @Test("a deleted collection's view: available false, its message, the share, and null content")
    func deletedCollection() {
        let token = shareCollection()["token"] as? String ?? ""
        _ = app.request(.delete, app.collectionsPath() + "/\(collection)", key: app.aliceKey)
        for query in ["", "?limit=1"] {
            let view = open(token, query: query)
            #expect(view.status == 200)
            #expect(view.json.keys.sorted() == (Self.viewKeys + (query.isEmpty ? [] : ["limit", "offset"])).sorted())
            #expect(view["kind"] as? String == "collection")
            #expect(view["available"] as? Bool == false)
            #expect(view["message"] as? String == "This collection is no longer available.")
            expectShare(view, type: "collection", visibility: "link_only", expiresAt: nil)
            #expect(view.json["track"] is NSNull)
            #expect(view.json["collection"] is NSNull)
            #expect(view.json["tracks"] is NSNull)
        }
    }

    @Test("a deleted track's view: available false, its message, the share, and null content")
    func deletedTrack() throws {
        let token = shareTrack(special.id)["token"] as? String ?? ""
        #expect(open(token)["available"] as? Bool == true)
        _ = try app.admin.deleteTrack(id: special.id)
        let view = open(token)
        #expect(view.status == 200)
        #expect(view.json.keys.sorted() == Self.viewKeys)
        #expect(view["kind"] as? String == "track")
        #expect(view["available"] as? Bool == false)
        #expect(view["message"] as? String == "This track is no longer available.")
        expectShare(view, type: "track", visibility: "link_only", expiresAt: nil)
        #expect(view.json["track"] is NSNull)
        #expect(view.json["collection"] is NSNull)
        #expect(view.json["tracks"] is NSNull)
        // A deleted track cannot be shared again.
        #expect(shareTrack(special.id).status == 404)
    }

    @Test("only the track's creator shares it: another member, another organization's track, a deleted or unknown one are 404")
    func trackShareCreatorOnly() throws {
        // bob is a member of the organization with the capability, but did not make the track.
        let byBob = shareTrack(special.id, key: app.bobKey)
        #expect(byBob.status == 404)
        #expect(byBob.errorCode == "RESOURCE_NOT_FOUND")
        let unknown = shareTrack("mtrack_000000000000")
        #expect(unknown.status == 404)
        // Another user's track and no track answer alike, once each names its id.
        #expect(byBob.bodyText.replacingOccurrences(of: special.id, with: "ID")
            == unknown.bodyText.replacingOccurrences(of: "mtrack_000000000000", with: "ID"))
        #expect(app.request(.post, "/v1/music/\(app.orgA)/tracks/\(app.trackB)/share", key: app.aliceKey).status == 404)
        #expect(shareTrack(special.id, key: app.carolKey).status == 403)
        #expect(shareTrack(special.id, key: app.daveKey).status == 403)
        #expect(app.request(.post, "/v1/music/\(app.orgA)/tracks/\(special.id)/share").status == 401)
        // bob shares a track he made.
        let bobs = try app.admin.createTracks([.init(title: "Bob's")], organizationID: app.orgA, ownerID: app.bob)[0]
        #expect(shareTrack(bobs.id, key: app.bobKey).status == 201)
        #expect(shareTrack(bobs.id).status == 404)
        // The body is checked as a collection share's.
        for (body, field) in [(#"{"visibility": "secret"}"#, "visibility"), (#"{"expires_in_days": 0}"#, "expires_in_days")] {
            let response = shareTrack(special.id, json: body)
            #expect(response.status == 422, "\(body)")
            #expect(response.errorField == field, "\(body)")
        }
    }

    @Test("a track's link is revoked with the same DELETE, by its owner only; then it is the unknown token's 404")
    func revokeTrackShare() {
        let link = shareTrack(special.id)
        let token = link["token"] as? String ?? ""
        let id = link["id"] as? String ?? ""
        let path = "/v1/music/\(app.orgA)/share/\(id)"
        #expect(app.request(.delete, path, key: app.bobKey).status == 404)
        #expect(open(token).status == 200)
        let revoked = app.request(.delete, path, key: app.aliceKey)
        #expect(revoked.status == 200)
        #expect(revoked.bodyText == #"{"success":true,"id":"\#(id)","detail":"Share link revoked."}"#)
        let gone = open(token)
        #expect(gone.status == 404)
        #expect(gone.bodyText == open(ShareToken.generate()).bodyText)
    }

    @Test("an expired track link is the unknown token's 404")
    func expiredTrackShare() {
        let token = shareTrack(special.id, json: #"{"expires_in_days": 1}"#)["token"] as? String ?? ""
        #expect(open(token).status == 200)
        app.clock.advance(by: 86_400)
        #expect(open(token).status == 404)
    }
}

/// The share `url` comes from the configured public address, whatever Host
/// (or forwarded host) a request names.
@Suite("Share URLs")
struct ShareURLTests {
    @Test("both kinds of link get the configured URL, never the request's Host")
    func configuredNotHost() throws {
        let app = try TestApp(publicURL: "https://music.example.org/base")
        let collection = app.createCollection("Mine")
        for path in [app.collectionsPath() + "/\(collection)/share", "/v1/music/\(app.orgA)/tracks/\(app.tracksA[0])/share"] {
            var fields = HTTPFields()
            fields[HTTPField.Name("X-Request-ID")!] = "0123456789abcdef0123456789abcdef"
            fields[HTTPField.Name("X-API-Key")!] = app.aliceKey
            fields[HTTPField.Name("X-Forwarded-Host")!] = "evil.example"
            fields[HTTPField.Name("Forwarded")!] = "host=evil.example;proto=http"
            let request = HTTPRequest(method: .post, scheme: "http", authority: "evil.example:8080", path: path, headerFields: fields)
            let response = TestResponse(app.api.respond(to: request, body: []))
            #expect(response.status == 201, "\(path)")
            let token = response["token"] as? String ?? ""
            #expect(response["url"] as? String == "https://music.example.org/base/v1/music/shared/\(token)", "\(path)")
            #expect(!response.bodyText.contains("evil"), "\(path)")
        }
    }

    @Test("a public URL on this machine is told apart from one clients elsewhere reach")
    func loopback() {
        for url in ["https://localhost", "https://LOCALHOST:8443/x", "http://127.0.0.1:80", "https://[::1]:443", "https://[::1]"] {
            #expect(PublicURL.isLoopback(url), "\(url)")
        }
        for url in ["https://music.example.org", "https://localhost.example.org", "https://10.0.0.1:8443", "https://[::2]", "https://128.0.0.1"] {
            #expect(!PublicURL.isLoopback(url), "\(url)")
        }
    }

    @Test("the public URL is checked and normalised at start")
    func validation() throws {
        for (given, kept) in [("https://localhost", "https://localhost"), ("https://music.example.org/", "https://music.example.org"),
                              ("HTTPS://Music.example.org:8443//", "https://Music.example.org:8443"),
                              ("http://127.0.0.1:21180/api", "http://127.0.0.1:21180/api"), ("https://[::1]:443", "https://[::1]:443"),
                              ("https://[::1]", "https://[::1]")] {
            #expect(try PublicURL.validated(given) == kept, "\(given)")
        }
        for bad in ["", "localhost", "ftp://example.org", "https://", "https:///path", "https://example.org?x=1",
                    "https://example.org/#top", "https://user:pw@example.org", "https://exa mple.org", "https://example.org:0",
                    "https://example.org:65536", "https://example.org:+80", "https://example.org:", "https://ex\"ample.org",
                    "https://example.org/<script>", "//example.org", "https://example.org\n",
                    "http://[::1", "https://]", "https://[", "https://;", "https://%zz", "https://[]", "https://a[b]",
                    "https://example.org/[x]", "https://.example.org", "https://ex_ample.org"] {
            #expect(throws: PublicURL.Invalid.self, "\(bad)") { try PublicURL.validated(bad) }
        }
    }
}
