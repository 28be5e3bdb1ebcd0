import Foundation
import HTTPTypes
import MusicCore
import Testing

/// Every endpoint against every kind of wrong caller gives exactly docs/api.md's
/// status and code, and nothing tells another user's collection from none.
@Suite("Access matrix")
struct AccessMatrixTests {
    let app: TestApp
    let collection: String
    let shareID: String

    init() throws {
        app = try TestApp()
        collection = app.createCollection("Alice's")
        _ = app.addTrack(app.tracksA[0], to: collection)
        shareID = app.request(.post, app.collectionsPath() + "/\(collection)/share", key: app.aliceKey)["id"] as? String ?? ""
    }

    struct Call {
        let name: String
        let method: HTTPRequest.Method
        let path: String
        let body: String?
        /// The answer to another user of the same organization.
        let sameOrganizationStatus: Int
    }

    /// `sharedTrack`: the track the track share call asks for (alice made it).
    func calls(for collection: String, share: String, sharedTrack: String? = nil) -> [Call] {
        let c = app.collectionsPath() + "/\(collection)"
        let org = "/v1/music/\(app.orgA)"
        let track = app.tracksA[0]
        return [
            Call(name: "create", method: .post, path: app.collectionsPath(), body: #"{"name": "x"}"#, sameOrganizationStatus: 201),
            Call(name: "list", method: .get, path: app.collectionsPath(), body: nil, sameOrganizationStatus: 200),
            Call(name: "get", method: .get, path: c, body: nil, sameOrganizationStatus: 404),
            Call(name: "update", method: .patch, path: c, body: #"{"name": "y"}"#, sameOrganizationStatus: 404),
            Call(name: "delete", method: .delete, path: c, body: nil, sameOrganizationStatus: 404),
            Call(name: "add", method: .post, path: c + "/tracks", body: #"{"track_id": "\#(track)"}"#, sameOrganizationStatus: 404),
            Call(name: "remove", method: .delete, path: c + "/tracks/\(track)", body: nil, sameOrganizationStatus: 404),
            Call(name: "members", method: .get, path: c + "/tracks", body: nil, sameOrganizationStatus: 404),
            Call(name: "reorder", method: .patch, path: c + "/order", body: #"{"ordered_track_ids": []}"#, sameOrganizationStatus: 404),
            Call(name: "share", method: .post, path: c + "/share", body: "{}", sameOrganizationStatus: 404),
            Call(name: "revoke", method: .delete, path: org + "/share/\(share)", body: nil, sameOrganizationStatus: 404),
            // Only the track's creator may share it.
            Call(name: "share track", method: .post, path: org + "/tracks/\(sharedTrack ?? track)/share", body: "{}",
                 sameOrganizationStatus: 404),
            Call(name: "track", method: .get, path: org + "/tracks/\(track)", body: nil, sameOrganizationStatus: 200),
            Call(name: "tracks", method: .get, path: org + "/tracks", body: nil, sameOrganizationStatus: 200),
        ]
    }

    @Test("wrong keys and wrong members get exactly docs/api.md's status and code on every endpoint")
    func matrix() {
        let callers: [(String, [String: String], Int, String)] = [
            ("no key", [:], 401, "AUTHENTICATION_REQUIRED"),
            ("malformed key", ["X-API-Key": "ak_bad"], 401, "INVALID_API_KEY"),
            ("unknown key", ["X-API-Key": APIKey.generate()], 401, "INVALID_API_KEY"),
            ("revoked key", ["X-API-Key": app.revokedKey], 401, "API_KEY_DEACTIVATED"),
            ("member without the capability", ["X-API-Key": app.carolKey], 403, "INSUFFICIENT_PERMISSIONS"),
            ("another organization's key", ["X-API-Key": app.daveKey], 403, "ORGANIZATION_ACCESS_DENIED"),
        ]
        for call in calls(for: collection, share: shareID) {
            for (who, headers, status, code) in callers {
                let response = app.request(call.method, call.path, json: call.body, headers: headers)
                #expect(response.status == status, "\(call.name) as \(who)")
                #expect(response.errorCode == code, "\(call.name) as \(who)")
            }
            let bob = app.request(call.method, call.path, key: app.bobKey, json: call.body)
            #expect(bob.status == call.sameOrganizationStatus, "\(call.name) as another user of the organization")
            if call.sameOrganizationStatus == 404 { #expect(bob.errorCode == "RESOURCE_NOT_FOUND") }
        }
        // Nothing of alice's changed.
        #expect(app.memberIDs(collection) == [app.tracksA[0]])
        #expect(app.request(.get, app.collectionsPath() + "/\(collection)", key: app.aliceKey)["name"] as? String == "Alice's")
    }

    @Test("another user's collection and a collection that does not exist answer alike")
    func noExistenceLeak() {
        let missing = "mcoll_000000000000", missingShare = "mslink_000000000000"
        let real = calls(for: collection, share: shareID)
        let missingTrack = "mtrack_000000000000"
        let none = calls(for: missing, share: missingShare, sharedTrack: missingTrack)
        for (existing, absent) in zip(real, none) where existing.sameOrganizationStatus == 404 {
            let a = app.request(existing.method, existing.path, key: app.bobKey, json: existing.body)
            let b = app.request(absent.method, absent.path, key: app.bobKey, json: absent.body)
            #expect(a.status == b.status, "\(existing.name)")
            #expect(a.error["system_message"] as? String == b.error["system_message"] as? String, "\(existing.name)")
            // Byte for byte the same answer, once each names the id it was asked about.
            var shownA = a.bodyText.replacingOccurrences(of: collection, with: "ID").replacingOccurrences(of: shareID, with: "SHARE")
            var shownB = b.bodyText.replacingOccurrences(of: missing, with: "ID").replacingOccurrences(of: missingShare, with: "SHARE")
            if existing.name == "share track" {
                shownA = shownA.replacingOccurrences(of: app.tracksA[0], with: "TRACK")
                shownB = shownB.replacingOccurrences(of: missingTrack, with: "TRACK")
            }
            #expect(shownA == shownB, "\(existing.name)")
        }
    }
}
