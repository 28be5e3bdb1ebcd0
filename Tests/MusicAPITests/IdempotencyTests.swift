import Foundation
import Synchronization
import Testing

@Suite("Idempotency-Key on create")
struct IdempotencyTests {
    let app: TestApp
    init() throws { app = try TestApp() }

    func create(_ body: String, key: String, as apiKey: String? = nil) -> TestResponse {
        app.request(.post, app.collectionsPath(), key: apiKey ?? app.aliceKey, json: body, headers: ["Idempotency-Key": key])
    }

    func count() -> Int {
        app.request(.get, app.collectionsPath() + "?limit=100", key: app.aliceKey).items.count
    }

    @Test("the same key and body replay the first answer without a second collection")
    func replay() {
        let first = create(#"{"name": "Once"}"#, key: "key-1")
        #expect(first.status == 201)
        app.clock.advance(by: 60)
        let again = create(#"{"name": "Once"}"#, key: "key-1")
        #expect(again.status == 201)
        #expect(again.bodyText == first.bodyText)
        #expect(again.header("Location") == first.header("Location"))
        #expect(again.header("ETag") == first.header("ETag"))
        #expect(again.header("Idempotent-Replayed") == "true")
        #expect(first.header("Idempotent-Replayed") == nil)
        #expect(count() == 1)
    }

    @Test("the same key with another body answers 422 IDEMPOTENCY_KEY_REUSED")
    func reused() {
        _ = create(#"{"name": "One"}"#, key: "key-2")
        let other = create(#"{"name": "Two"}"#, key: "key-2")
        #expect(other.status == 422)
        #expect(other.errorCode == "IDEMPOTENCY_KEY_REUSED")
        #expect(count() == 1)
    }

    @Test("keys expire after 24 hours and are scoped to the caller")
    func expiryAndScope() {
        let first = create(#"{"name": "Daily"}"#, key: "key-3")
        let bobs = create(#"{"name": "Daily"}"#, key: "key-3", as: app.bobKey)
        #expect(bobs.status == 201)
        #expect(bobs["id"] as? String != first["id"] as? String)
        app.clock.advance(by: 86_400)
        let later = create(#"{"name": "Daily"}"#, key: "key-3")
        #expect(later.status == 201)
        #expect(later["id"] as? String != first["id"] as? String)
        #expect(count() == 2)
    }

    @Test("a key must be 1 to 255 characters; a failed create keeps no answer")
    func keyRules() {
        #expect(create(#"{"name": "x"}"#, key: String(repeating: "k", count: 255)).status == 201)
        let long = create(#"{"name": "x"}"#, key: String(repeating: "k", count: 256))
        #expect(long.status == 422)
        #expect(long.errorField == "Idempotency-Key")
        #expect(create(#"{"name": ""}"#, key: "key-4").status == 422)
        #expect(create(#"{"name": ""}"#, key: "key-4").status == 422)
        #expect(create(#"{"name": "fixed"}"#, key: "key-4").status == 201)
    }

    @Test("16 threads sending the same key at once create one collection and all get its answer")
    func concurrentDuplicates() {
        let answers = Mutex<[String]>([])
        let group = DispatchGroup()
        let app = self.app
        for _ in 0..<16 {
            group.enter()
            Thread.detachNewThread {
                let response = app.request(.post, app.collectionsPath(), key: app.aliceKey, json: #"{"name": "Race"}"#,
                                           headers: ["Idempotency-Key": "race"])
                answers.withLock { $0.append("\(response.status) \(response["id"] as? String ?? "-")") }
                group.leave()
            }
        }
        group.wait()
        let all = answers.withLock { $0 }
        #expect(all.count == 16)
        #expect(Set(all).count == 1)
        #expect(all.first?.hasPrefix("201 mcoll_") == true)
        #expect(count() == 1)
    }
}
