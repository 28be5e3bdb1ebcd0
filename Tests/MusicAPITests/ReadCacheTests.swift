import Foundation
@testable import MusicAPI
import MusicCore
import Testing

/// Kept answers to reads (`ReadCache`) must be indistinguishable from fresh ones:
/// same bytes, own trace id, never stale, never another caller's.
@Suite("Kept answers to reads")
struct ReadCacheTests {
    let app: TestApp
    let collection: String

    init() throws {
        app = try TestApp()
        collection = app.createCollection("Kept")
        _ = app.addTrack(app.tracksA[0], to: collection)
    }

    var tracksPath: String { app.collectionsPath() + "/\(collection)/tracks?limit=10" }

    @Test("a repeated read answers the same bytes under its own request id, and is kept when the store can tell changes")
    func repeatedRead() throws {
        let first = app.request(.get, tracksPath, key: app.aliceKey, headers: ["X-Request-ID": "11111111111111111111111111111111"])
        let second = app.request(.get, tracksPath, key: app.aliceKey, headers: ["X-Request-ID": "22222222222222222222222222222222"])
        #expect(first.status == 200 && second.status == 200)
        #expect(first.bodyText == second.bodyText)
        #expect(first.header("ETag") == second.header("ETag"))
        #expect(second.header("X-Request-ID") == "req_22222222222222222222222222222222")
        // SQLite tells changes by PRAGMA data_version; PostgreSQL does not, and keeps nothing.
        let stamp = app.store.changeStamp()
        let kept = stamp.flatMap { app.api.readCache.lookup(ReadCache.key(keyHash: APIKey.hash(app.aliceKey), target: tracksPath), stamp: $0) }
        #expect((kept != nil) == (stamp != nil))
    }

    @Test("a change through the API is seen by the next read")
    func changeThroughAPI() throws {
        #expect(app.request(.get, tracksPath, key: app.aliceKey).items.count == 1)
        #expect(app.addTrack(app.tracksA[1], to: collection).status == 200)
        let after = app.request(.get, tracksPath, key: app.aliceKey)
        #expect(after.items.compactMap { $0["track_id"] as? String } == [app.tracksA[0], app.tracksA[1]])
        #expect(app.request(.get, app.collectionsPath() + "/\(collection)", key: app.aliceKey)["track_count"] as? Int == 2)
    }

    @Test("only a GET is answered from a kept answer: a PATCH or DELETE of the same target is routed and applied")
    func otherMethodsOnAKeptTarget() throws {
        // The cache is looked up before routing; a lookup that ignored the method
        // would answer these with the kept 200 of the GET.
        let path = app.collectionsPath() + "/\(collection)"
        #expect(app.request(.get, path, key: app.aliceKey)["name"] as? String == "Kept")
        #expect(app.request(.get, path, key: app.aliceKey)["name"] as? String == "Kept")
        let renamed = app.request(.patch, path, key: app.aliceKey, json: #"{"name": "Renamed"}"#)
        #expect(renamed.status == 200 && renamed["name"] as? String == "Renamed")
        #expect(app.request(.get, path, key: app.aliceKey)["name"] as? String == "Renamed")
        #expect(app.request(.get, path, key: app.aliceKey)["name"] as? String == "Renamed")
        #expect(app.request(.delete, path, key: app.aliceKey).status == 200)
        #expect(app.request(.get, path, key: app.aliceKey).status == 404)
        #expect(app.request(.post, path, key: app.aliceKey, json: "{}").status == 405)
    }

    @Test("a change by another process is seen by the next read")
    func changeByAnotherProcess() throws {
        let path = app.collectionsPath() + "/\(collection)"
        #expect(app.request(.get, path, key: app.aliceKey)["track_count"] as? Int == 1)
        let other = CollectionService(store: try app.database.anotherStore())
        _ = try other.addTrack(app.tracksA[2], to: collection, as: Caller(userID: app.alice, organizationID: app.orgA))
        #expect(app.request(.get, path, key: app.aliceKey)["track_count"] as? Int == 2)
    }

    @Test("a key revoked after kept reads is refused at once")
    func revokedKey() throws {
        let (record, raw) = try app.admin.createAPIKey(userID: app.alice)
        #expect(app.request(.get, tracksPath, key: raw).status == 200)
        #expect(app.request(.get, tracksPath, key: raw).status == 200)
        try app.admin.revokeAPIKey(id: record.id)
        let refused = app.request(.get, tracksPath, key: raw)
        #expect(refused.status == 401)
        #expect(refused.errorCode == "API_KEY_DEACTIVATED")
    }

    @Test("another caller never gets a kept answer")
    func otherCaller() throws {
        #expect(app.request(.get, tracksPath, key: app.aliceKey).status == 200)
        #expect(app.request(.get, tracksPath, key: app.bobKey).status == 404)
        #expect(app.request(.get, tracksPath, key: app.carolKey).status == 403)
        #expect(app.request(.get, tracksPath).status == 401)
        #expect(app.request(.get, tracksPath, key: app.aliceKey).status == 200)
    }
}
