import MusicCore
import Testing

/// The shared view pages as the collection's track listing does, when asked to.
@Suite("Paged shared view")
struct SharedViewPagingTests {
    let app: TestApp
    let collection: String
    let token: String

    init() throws {
        app = try TestApp()
        collection = app.createCollection("Shared")
        for track in app.tracksA { _ = app.addTrack(track, to: collection) }
        let link = app.request(.post, app.collectionsPath() + "/\(collection)/share", key: app.aliceKey, json: "{}")
        token = link["token"] as? String ?? ""
    }

    func open(_ query: String = "") -> TestResponse {
        app.request(.get, "/v1/music/shared/\(token)" + query)
    }

    func ids(_ view: TestResponse) -> [String] {
        (view["tracks"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    }

    @Test("without limit and offset: every track and no paging fields")
    func wholeList() {
        let view = open()
        #expect(view.status == 200)
        #expect(ids(view) == app.tracksA)
        #expect(view["limit"] == nil && view["offset"] == nil)
    }

    @Test("limit and offset: the page the track listing gives, with its limit and offset")
    func page() {
        let view = open("?limit=2&offset=3")
        #expect(view.status == 200)
        #expect(ids(view) == [app.tracksA[3], app.tracksA[4]])
        #expect((view["tracks"] as? [[String: Any]] ?? []).compactMap { $0["position"] as? Int } == [3, 4])
        #expect(view["limit"] as? Int == 2)
        #expect(view["offset"] as? Int == 3)
        let listing = app.request(.get, app.collectionsPath() + "/\(collection)/tracks?limit=2&offset=3", key: app.aliceKey)
        #expect(listing.items.compactMap { $0["track_id"] as? String } == ids(view))
        #expect(listing["limit"] as? Int == view["limit"] as? Int)
        #expect(listing["offset"] as? Int == view["offset"] as? Int)
        // Either parameter alone pages, with the listing's defaults for the other.
        let offsetOnly = open("?offset=4")
        #expect(ids(offsetOnly) == Array(app.tracksA[4...]))
        #expect(offsetOnly["limit"] as? Int == 200)
        #expect(offsetOnly["offset"] as? Int == 4)
        let limitOnly = open("?limit=1")
        #expect(ids(limitOnly) == [app.tracksA[0]])
        #expect(limitOnly["offset"] as? Int == 0)
        #expect(ids(open("?offset=100")).isEmpty)
        #expect(open("?limit=500").status == 200)
    }

    @Test("limit and offset are validated exactly as the track listing's")
    func validation() {
        let listing = app.collectionsPath() + "/\(collection)/tracks"
        for query in ["?limit=0", "?limit=501", "?limit=", "?limit=x", "?limit=1.5", "?offset=-1", "?offset=1000000001",
                      "?offset=", "?limit=9999999999999999999999"] {
            let view = open(query)
            let listed = app.request(.get, listing + query, key: app.aliceKey)
            #expect(view.status == 422, "\(query)")
            #expect(view.status == listed.status, "\(query)")
            #expect(view.errorField == listed.errorField, "\(query)")
            #expect(view.error["message"] as? String == listed.error["message"] as? String, "\(query)")
            #expect((view.error["details"] as? [String: String]) == (listed.error["details"] as? [String: String]), "\(query)")
        }
    }

    @Test("a paged view of a deleted collection still answers available false")
    func deletedCollection() {
        _ = app.request(.delete, app.collectionsPath() + "/\(collection)", key: app.aliceKey)
        let view = open("?limit=2")
        #expect(view.status == 200)
        #expect(view["available"] as? Bool == false)
        #expect(ids(view).isEmpty)
    }
}
