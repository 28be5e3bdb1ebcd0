import Logging
import MusicAPI
import MusicCore
import Testing

/// A change reaches the store's one writer only when its key authenticates:
/// made-up keys must not be able to fill the writer's queue.
@Suite("Changes with a bad key never reach the writer")
struct WriterGateTests {
    let app: TestApp
    let store: CountingStore
    let api: MusicAPI

    init() throws {
        app = try TestApp()
        store = CountingStore(app.store)
        var quiet = Logger(label: "music.api.test")
        quiet.logLevel = .critical
        api = MusicAPI(store: store, clock: app.clock, logger: quiet)
    }

    @Test("unknown, malformed, missing and revoked keys and non-members are refused without a write")
    func refusedBeforeTheWriter() {
        let body = #"{"name": "Spam"}"#
        let unknown = APIKey.generate()
        let cases: [(key: String?, status: Int)] = [
            (unknown, 401), ("ak_short", 401), ("not a key at all", 401), (nil, 401),
            (app.revokedKey, 401), (app.daveKey, 403), (app.carolKey, 403),
        ]
        for (key, status) in cases {
            let response = app.request(to: api, .post, app.collectionsPath(), key: key, json: body)
            #expect(response.status == status, "key \(key ?? "none")")
        }
        // Every method that changes data goes the same way.
        let collection = app.createCollection()
        _ = app.request(to: api, .patch, app.collectionsPath() + "/\(collection)", key: unknown, json: body)
        _ = app.request(to: api, .delete, app.collectionsPath() + "/\(collection)", key: unknown)
        _ = app.request(to: api, .post, app.collectionsPath() + "/\(collection)/tracks", key: unknown,
                        json: #"{"track_id": "\#(app.tracksA[0])"}"#)
        #expect(store.writes == 0)
        // The same request with a good key does write.
        #expect(app.request(to: api, .post, app.collectionsPath(), key: app.aliceKey, json: body).status == 201)
        #expect(store.writes > 0)
    }

    @Test("a key revoked after it was admitted is refused in the write, then before it")
    func revokedAfterAdmission() throws {
        let body = #"{"name": "Mix"}"#
        let key = try app.admin.createAPIKey(userID: app.alice)
        #expect(app.request(to: api, .post, app.collectionsPath(), key: key.rawKey, json: body).status == 201)
        try app.admin.revokeAPIKey(id: key.record.id)
        // Admitted on this thread already: the write's own check refuses it.
        let writesBefore = store.writes
        let inWrite = app.request(to: api, .post, app.collectionsPath(), key: key.rawKey, json: body)
        #expect(inWrite.status == 401)
        #expect(inWrite.errorCode == "API_KEY_DEACTIVATED" || inWrite.errorCode == "INVALID_API_KEY")
        // Forgotten since: the next one does not reach the writer.
        let afterWrites = store.writes
        #expect(afterWrites <= writesBefore + 1)
        for _ in 0..<3 {
            #expect(app.request(to: api, .post, app.collectionsPath(), key: key.rawKey, json: body).status == 401)
        }
        #expect(store.writes == afterWrites)
    }
}
