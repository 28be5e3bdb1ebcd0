import CoreMetrics
import Foundation
import HTTPTypes
import Logging
import MusicAPI
import MusicCore
import StoreTestSupport
import Synchronization

/// A clock the tests move by hand.
final class ManualClock: WallClock {
    private let seconds = Mutex<Int64>(1_782_642_600) // 2026-06-28T10:30:00Z

    func now() -> Timestamp { Timestamp(secondsSince1970: seconds.withLock { $0 }) }
    func advance(by delta: Int64 = 1) { seconds.withLock { $0 += delta } }
}

/// A decoded answer of the API.
struct TestResponse {
    let status: Int
    let headers: HTTPFields
    let bodyText: String
    let json: [String: Any]

    init(_ response: APIResponse) {
        status = response.head.status.code
        headers = response.head.headerFields
        bodyText = response.bodyText
        json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
    }

    subscript(key: String) -> Any? { json[key] }
    var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }
    var errorCode: String? { error["code"] as? String }
    var errorField: String? { (error["details"] as? [String: Any])?["field"] as? String }
    var items: [[String: Any]] { json["items"] as? [[String: Any]] ?? [] }
    func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }
}

/// The API over a fresh database (SQLite, or PostgreSQL: see `TestDatabase`), with a cast of callers:
/// alice and bob (members of org A with the capability), carol (member of A
/// without it), dave (member of org B), and tracks in both organizations.
final class TestApp: @unchecked Sendable {
    let database: TestDatabase
    let store: any Store
    let clock = ManualClock()
    let api: MusicAPI
    let admin: AdminService
    let orgA: String, orgB: String
    let alice: String, bob: String, carol: String, dave: String
    let aliceKey: String, bobKey: String, carolKey: String, daveKey: String, revokedKey: String
    let tracksA: [String], trackB: String

    /// `metrics`: the factory the API and the store make their metric handles with.
    /// `publicURL`: the API's configured public address (share links' `url`).
    init(metrics: any MetricsFactory = MetricsSystem.factory, publicURL: String = PublicURL.defaultValue) throws {
        database = try TestDatabase(metrics: metrics)
        store = database.store
        var quiet = Logger(label: "music.api.test")
        quiet.logLevel = .critical
        api = MusicAPI(store: store, clock: clock, logger: quiet, metrics: metrics, publicURL: publicURL)
        admin = AdminService(store: store, clock: clock)
        orgA = try admin.createOrganization(name: "A").id
        orgB = try admin.createOrganization(name: "B").id
        alice = try admin.createUser(email: "alice@a.test", organizationID: orgA, capabilities: [.useMusicGeneration]).id
        bob = try admin.createUser(email: "bob@a.test", organizationID: orgA, capabilities: [.useMusicGeneration]).id
        carol = try admin.createUser(email: "carol@a.test", organizationID: orgA, capabilities: []).id
        dave = try admin.createUser(email: "dave@b.test", organizationID: orgB, capabilities: [.useMusicGeneration]).id
        aliceKey = try admin.createAPIKey(userID: alice).rawKey
        bobKey = try admin.createAPIKey(userID: bob).rawKey
        carolKey = try admin.createAPIKey(userID: carol).rawKey
        daveKey = try admin.createAPIKey(userID: dave).rawKey
        let revoked = try admin.createAPIKey(userID: alice)
        try admin.revokeAPIKey(id: revoked.record.id)
        revokedKey = revoked.rawKey
        tracksA = try admin.createTracks((1...6).map { .init(title: "Track \($0)") }, organizationID: orgA, ownerID: alice).map(\.id)
        trackB = try admin.createTracks([.init(title: "B track")], organizationID: orgB, ownerID: dave)[0].id
    }

    /// Sends a request as nginx would pass it, with a fixed request id.
    func request(
        _ method: HTTPRequest.Method, _ path: String, key: String? = nil, bearer: String? = nil,
        json: String? = nil, contentType: String? = "application/json", headers: [String: String] = [:]
    ) -> TestResponse {
        var fields = HTTPFields()
        fields[HTTPField.Name("X-Request-ID")!] = "0123456789abcdef0123456789abcdef"
        if let key { fields[HTTPField.Name("X-API-Key")!] = key }
        if let bearer { fields[.authorization] = "Bearer \(bearer)" }
        let body = Array((json ?? "").utf8)
        if json != nil, let contentType { fields[.contentType] = contentType }
        if json != nil { fields[.contentLength] = String(body.count) }
        for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
        let request = HTTPRequest(method: method, scheme: "https", authority: "localhost", path: path, headerFields: fields)
        return TestResponse(api.respond(to: request, body: body))
    }

    func collectionsPath(_ org: String? = nil) -> String { "/v1/music/\(org ?? orgA)/collections" }

    /// Creates a collection as `key` (alice by default) and returns its id.
    func createCollection(_ name: String = "Focus", key: String? = nil, org: String? = nil) -> String {
        let response = request(.post, collectionsPath(org), key: key ?? aliceKey, json: #"{"name": "\#(name)"}"#)
        return response["id"] as? String ?? "missing"
    }

    func addTrack(_ track: String, to collection: String, key: String? = nil) -> TestResponse {
        request(.post, collectionsPath() + "/\(collection)/tracks", key: key ?? aliceKey, json: #"{"track_id": "\#(track)"}"#)
    }

    /// The collection's member track ids in position order, checking the positions are 0..n-1.
    func memberIDs(_ collection: String) -> [String] {
        let response = request(.get, collectionsPath() + "/\(collection)/tracks?limit=500", key: aliceKey)
        let items = response.items
        for (index, item) in items.enumerated() where item["position"] as? Int != index {
            return ["positions are not dense: \(items.map { $0["position"] ?? "nil" })"]
        }
        return items.compactMap { $0["track_id"] as? String }
    }
}
