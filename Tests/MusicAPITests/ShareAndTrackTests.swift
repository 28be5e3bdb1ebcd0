import Foundation
import MusicCore
import Testing

@Suite("Share links")
struct ShareTests {
    let app: TestApp
    let collection: String

    init() throws {
        app = try TestApp()
        collection = app.createCollection("Shared")
        for track in app.tracksA.prefix(3) { _ = app.addTrack(track, to: collection) }
    }

    func share(_ body: String? = nil, key: String? = nil, collection: String? = nil) -> TestResponse {
        app.request(.post, app.collectionsPath() + "/\(collection ?? self.collection)/share", key: key ?? app.aliceKey, json: body)
    }

    func open(_ token: String) -> TestResponse {
        app.request(.get, "/v1/music/shared/\(token)")
    }

    @Test("sharing answers 201 with a one-time token, a URL and defaults")
    func shareDefaults() {
        let response = share()
        #expect(response.status == 201)
        let token = response["token"] as? String ?? ""
        #expect(ShareToken.isWellFormed(token))
        #expect((response["id"] as? String)?.hasPrefix("mslink_") == true)
        #expect(response["url"] as? String == "https://localhost/v1/music/shared/\(token)")
        #expect(response["target_type"] as? String == "collection")
        #expect(response["visibility"] as? String == "link_only")
        #expect(response.json["expires_at"] is NSNull)
        #expect(response["created_at"] as? String == "2026-06-28T10:30:00Z")
    }

    @Test("expiry is capped at 90 days; visibility and days are validated")
    func shareOptions() {
        let capped = share(#"{"visibility": "public", "expires_in_days": 365}"#)
        #expect(capped["visibility"] as? String == "public")
        #expect(capped["expires_at"] as? String == "2026-09-26T10:30:00Z")
        #expect(share(#"{"expires_in_days": 1}"#)["expires_at"] as? String == "2026-06-29T10:30:00Z")
        // Found by schemathesis: null means the default, as the spec now says.
        let nulls = share(#"{"visibility": null, "expires_in_days": null}"#)
        #expect(nulls.status == 201)
        #expect(nulls["visibility"] as? String == "link_only")
        for (body, field) in [(#"{"visibility": "secret"}"#, "visibility"), (#"{"visibility": 1}"#, "visibility"),
                              (#"{"expires_in_days": 0}"#, "expires_in_days"), (#"{"expires_in_days": 1.5}"#, "expires_in_days"),
                              (#"{"expires_in_days": "7"}"#, "expires_in_days"), (#"{"expires_in_days": true}"#, "expires_in_days"),
                              (#"[]"#, "body")] {
            let response = share(body)
            #expect(response.status == 422, "\(body)")
            #expect(response.errorField == field, "\(body)")
        }
    }

    @Test("only the owner can share: another user's or an unknown collection is 404")
    func ownerOnly() {
        #expect(share(key: app.bobKey).status == 404)
        #expect(share(collection: "mcoll_000000000000").status == 404)
        #expect(share(key: app.carolKey).status == 403)
        #expect(app.request(.post, app.collectionsPath() + "/\(collection)/share").status == 401)
    }

    @Test("a link opens without a key and shows the tracks in collection order")
    func openShowsTracks() {
        _ = app.request(.patch, app.collectionsPath() + "/\(collection)/order", key: app.aliceKey,
                        json: #"{"ordered_track_ids": ["\#(app.tracksA[2])"]}"#)
        let token = share()["token"] as? String ?? ""
        let view = open(token)
        #expect(view.status == 200)
        #expect(view["kind"] as? String == "collection")
        #expect(view["available"] as? Bool == true)
        let shareInfo = view["share"] as? [String: Any] ?? [:]
        #expect(shareInfo["target_type"] as? String == "collection")
        #expect(shareInfo["visibility"] as? String == "link_only")
        let shown = view["collection"] as? [String: Any] ?? [:]
        #expect(shown["id"] as? String == collection)
        #expect(shown["name"] as? String == "Shared")
        let tracks = view["tracks"] as? [[String: Any]] ?? []
        #expect(tracks.compactMap { $0["id"] as? String } == [app.tracksA[2], app.tracksA[0], app.tracksA[1]])
        #expect(tracks.first?["title"] as? String == "Track 3")
    }

    @Test("unknown, revoked and expired tokens are the same 404")
    func deadTokens() {
        let unknown = open(ShareToken.generate())
        #expect(unknown.status == 404)
        let response = share(#"{"expires_in_days": 1}"#)
        let token = response["token"] as? String ?? ""
        #expect(open(token).status == 200)
        app.clock.advance(by: 86_400)
        let expired = open(token)
        #expect(expired.status == 404)
        #expect(expired.error["system_message"] as? String == unknown.error["system_message"] as? String)

        let revokedLink = share()
        let path = "/v1/music/\(app.orgA)/share/\(revokedLink["id"] as? String ?? "")"
        let revoked = app.request(.delete, path, key: app.aliceKey)
        #expect(revoked.status == 200)
        #expect(revoked.bodyText == #"{"success":true,"id":"\#(revokedLink["id"] as? String ?? "")","detail":"Share link revoked."}"#)
        #expect(app.request(.delete, path, key: app.aliceKey).bodyText == revoked.bodyText)
        #expect(open(revokedLink["token"] as? String ?? "").status == 404)
        #expect(open("not-a-token").status == 404)
    }

    @Test("another user cannot revoke a link: 404")
    func revokeOwnerOnly() {
        let link = share()
        let path = "/v1/music/\(app.orgA)/share/\(link["id"] as? String ?? "")"
        #expect(app.request(.delete, path, key: app.bobKey).status == 404)
        #expect(app.request(.delete, "/v1/music/\(app.orgA)/share/mslink_000000000000", key: app.aliceKey).status == 404)
        #expect(open(link["token"] as? String ?? "").status == 200)
    }

    @Test("a deleted collection's link answers available: false with a message and no content")
    func deletedCollection() {
        let token = share()["token"] as? String ?? ""
        _ = app.request(.delete, app.collectionsPath() + "/\(collection)", key: app.aliceKey)
        let view = open(token)
        #expect(view.status == 200)
        #expect(view["available"] as? Bool == false)
        #expect(view["message"] as? String == "This collection is no longer available.")
        #expect(view.json["collection"] is NSNull)
        #expect(view.json["tracks"] is NSNull)
    }

    @Test("a track deleted after sharing never shows in the shared view, a listing or a count")
    func deletedTrackVanishes() throws {
        let token = share()["token"] as? String ?? ""
        let updated = try app.admin.deleteTrack(id: app.tracksA[1])
        #expect(updated == 1)
        let tracks = open(token)["tracks"] as? [[String: Any]] ?? []
        #expect(tracks.compactMap { $0["id"] as? String } == [app.tracksA[0], app.tracksA[2]])
        #expect(app.memberIDs(collection) == [app.tracksA[0], app.tracksA[2]])
        #expect(app.request(.get, app.collectionsPath() + "/\(collection)", key: app.aliceKey)["track_count"] as? Int == 2)
        #expect(app.request(.get, "/v1/music/\(app.orgA)/tracks/\(app.tracksA[1])", key: app.aliceKey).status == 404)
        #expect(app.addTrack(app.tracksA[1], to: collection).status == 404)
    }

    @Test("no raw share token is stored")
    func tokensAreHashed() throws {
        let token = share()["token"] as? String ?? ""
        let bytes = try app.database.rawContent()
        #expect(bytes.range(of: Data(token.utf8)) == nil)
        #expect(bytes.range(of: Data(ShareToken.hash(token).utf8)) != nil)
    }
}

@Suite("Tracks")
struct TrackTests {
    let app: TestApp
    init() throws { app = try TestApp() }

    @Test("a track of the organization answers the track object")
    func getTrack() {
        let response = app.request(.get, "/v1/music/\(app.orgA)/tracks/\(app.tracksA[0])", key: app.aliceKey)
        #expect(response.status == 200)
        #expect(response.json.keys.sorted() == ["commercial_use", "created_at", "engine", "id", "instrumental", "licence_class",
                                                "licence_version", "measured_duration_seconds", "mime_type", "mode", "playback_url",
                                                "requires_attribution", "title"])
        #expect(response["id"] as? String == app.tracksA[0])
        #expect(response["licence_version"] as? String == Track.defaultLicenceVersion)
        #expect(response["title"] as? String == "Track 1")
        #expect(response["commercial_use"] as? Bool == true)
        #expect(response["requires_attribution"] as? Bool == false)
        #expect(response.json["playback_url"] is NSNull)
        #expect(app.request(.get, "/v1/music/\(app.orgA)/tracks/\(app.trackB)", key: app.aliceKey).status == 404)
        #expect(app.request(.get, "/v1/music/\(app.orgA)/tracks/\(app.tracksA[0])", key: app.bobKey).status == 200)
        #expect(app.request(.get, "/v1/music/\(app.orgA)/tracks/\(app.tracksA[0])").status == 401)
        #expect(app.request(.get, "/v1/music/\(app.orgA)/tracks/\(app.tracksA[0])", key: app.daveKey).status == 403)
    }

    @Test("licence classes decide commercial use and attribution")
    func licences() throws {
        let tracks = try app.admin.createTracks([.init(title: "p", licenceClass: "personal"), .init(title: "a", licenceClass: "attribution")],
                                                organizationID: app.orgA, ownerID: app.alice)
        let personal = app.request(.get, "/v1/music/\(app.orgA)/tracks/\(tracks[0].id)", key: app.aliceKey)
        #expect(personal["commercial_use"] as? Bool == false)
        let attribution = app.request(.get, "/v1/music/\(app.orgA)/tracks/\(tracks[1].id)", key: app.aliceKey)
        #expect(attribution["requires_attribution"] as? Bool == true)
    }

    @Test("listing is newest first, or in collection order for a collection of the caller's")
    func listTracks() throws {
        app.clock.advance(by: 10)
        let newer = try app.admin.createTracks([.init(title: "newest")], organizationID: app.orgA, ownerID: app.alice)[0].id
        let all = app.request(.get, "/v1/music/\(app.orgA)/tracks?limit=100", key: app.aliceKey)
        #expect(all.status == 200)
        #expect(all.items.first?["id"] as? String == newer)
        #expect(all.items.count == 7)
        #expect(all["limit"] as? Int == 100)
        let collection = app.createCollection()
        _ = app.addTrack(app.tracksA[4], to: collection)
        _ = app.addTrack(app.tracksA[1], to: collection)
        let ordered = app.request(.get, "/v1/music/\(app.orgA)/tracks?collection_id=\(collection)&limit=1&offset=1", key: app.aliceKey)
        #expect(ordered.items.compactMap { $0["id"] as? String } == [app.tracksA[1]])
        #expect(ordered["offset"] as? Int == 1)
        let bobs = app.createCollection("Bob's", key: app.bobKey)
        #expect(app.request(.get, "/v1/music/\(app.orgA)/tracks?collection_id=\(bobs)", key: app.aliceKey).status == 404)
        for query in ["limit=0", "limit=101", "offset=-1", "collection_id="] {
            #expect(app.request(.get, "/v1/music/\(app.orgA)/tracks?\(query)", key: app.aliceKey).status == 422, "\(query)")
        }
    }
}
