import MusicCore
import Testing

@Suite("Identity and access")
struct AccessTests {
    let app: TestApp
    init() throws { app = try TestApp() }

    @Test("no key answers 401 AUTHENTICATION_REQUIRED")
    func noKey() {
        let response = app.request(.get, app.collectionsPath())
        #expect(response.status == 401)
        #expect(response.errorCode == "AUTHENTICATION_REQUIRED")
        #expect(response.error["type"] as? String == "authentication_error")
        #expect(response.error["message"] as? String == "Authentication required. Please provide a valid API key.")
    }

    @Test("an Authorization header of another scheme counts as no key")
    func basicAuthIsNoKey() {
        let response = app.request(.get, app.collectionsPath(), headers: ["Authorization": "Basic YWxpY2U6c2VjcmV0"])
        #expect(response.errorCode == "AUTHENTICATION_REQUIRED")
    }

    @Test("malformed and unknown keys answer 401 INVALID_API_KEY")
    func invalidKeys() {
        for key in ["nonsense", "ak_short", "ak_" + String(repeating: "!", count: 40), APIKey.generate()] {
            let response = app.request(.get, app.collectionsPath(), key: key)
            #expect(response.status == 401)
            #expect(response.errorCode == "INVALID_API_KEY", "\(key.prefix(6))")
        }
    }

    @Test("a revoked key answers 401 API_KEY_DEACTIVATED")
    func revokedKey() {
        let response = app.request(.get, app.collectionsPath(), key: app.revokedKey)
        #expect(response.status == 401)
        #expect(response.errorCode == "API_KEY_DEACTIVATED")
    }

    @Test("the key works as X-API-Key and as Authorization: Bearer")
    func bothHeaderForms() {
        #expect(app.request(.get, app.collectionsPath(), key: app.aliceKey).status == 200)
        #expect(app.request(.get, app.collectionsPath(), bearer: app.aliceKey).status == 200)
        #expect(app.request(.get, app.collectionsPath(), headers: ["Authorization": "bearer  \(app.aliceKey)"]).status == 200)
    }

    @Test("a caller outside the organization answers 403 ORGANIZATION_ACCESS_DENIED")
    func otherOrganization() {
        let response = app.request(.get, app.collectionsPath(app.orgB), key: app.aliceKey)
        #expect(response.status == 403)
        #expect(response.errorCode == "ORGANIZATION_ACCESS_DENIED")
        #expect(response.error["type"] as? String == "authorization_error")
        #expect(app.request(.get, app.collectionsPath("org_unknown"), key: app.aliceKey).errorCode == "ORGANIZATION_ACCESS_DENIED")
    }

    @Test("a member without the capability answers 403 INSUFFICIENT_PERMISSIONS")
    func missingCapability() {
        let response = app.request(.post, app.collectionsPath(), key: app.carolKey, json: #"{"name": "x"}"#)
        #expect(response.status == 403)
        #expect(response.errorCode == "INSUFFICIENT_PERMISSIONS")
        #expect(response.error["system_message"] as? String == "Missing USE_MUSIC_GENERATION capability")
    }

    @Test("checks run in the order 401, 403, 422, 404")
    func checkOrder() {
        let invalid = #"{"name": ""}"#
        #expect(app.request(.post, app.collectionsPath(), json: invalid).status == 401)
        #expect(app.request(.post, app.collectionsPath(), key: app.carolKey, json: invalid).status == 403)
        #expect(app.request(.post, app.collectionsPath(), key: app.aliceKey, json: invalid).status == 422)
        let bobs = app.createCollection("Bob's", key: app.bobKey)
        let patch = app.request(.patch, app.collectionsPath() + "/\(bobs)", key: app.aliceKey, json: #"{"name": ""}"#)
        #expect(patch.status == 422)
        let query = app.request(.get, app.collectionsPath() + "/\(bobs)/tracks?limit=0", key: app.aliceKey)
        #expect(query.status == 422)
        #expect(app.request(.get, app.collectionsPath() + "/\(bobs)/tracks", key: app.aliceKey).status == 404)
    }

    @Test("another user's collection answers 404 on every endpoint, never 403")
    func otherUsersCollectionIsNotFound() {
        let bobs = app.createCollection("Bob's", key: app.bobKey)
        let base = app.collectionsPath() + "/\(bobs)"
        let answers = [
            app.request(.get, base, key: app.aliceKey),
            app.request(.patch, base, key: app.aliceKey, json: #"{"name": "mine"}"#),
            app.request(.delete, base, key: app.aliceKey),
            app.request(.get, base + "/tracks", key: app.aliceKey),
            app.addTrack(app.tracksA[0], to: bobs),
            app.request(.delete, base + "/tracks/\(app.tracksA[0])", key: app.aliceKey),
            app.request(.patch, base + "/order", key: app.aliceKey, json: #"{"ordered_track_ids": []}"#),
        ]
        for response in answers {
            #expect(response.status == 404)
            #expect(response.errorCode == "RESOURCE_NOT_FOUND")
        }
        let unknown = app.request(.get, app.collectionsPath() + "/mcoll_000000000000", key: app.aliceKey)
        #expect(unknown.error["system_message"] as? String == answers[0].error["system_message"] as? String)
        #expect(app.request(.get, base, key: app.bobKey).status == 200)
        #expect(app.request(.get, app.collectionsPath(), key: app.aliceKey).items.isEmpty)
    }

    @Test("a collection of another organization is not found through this organization's path")
    func otherOrganizationsCollection() {
        let daves = app.createCollection("Dave's", key: app.daveKey, org: app.orgB)
        #expect(app.request(.get, app.collectionsPath() + "/\(daves)", key: app.aliceKey).status == 404)
        #expect(app.request(.get, app.collectionsPath(app.orgB) + "/\(daves)", key: app.daveKey).status == 200)
    }
}
