import Foundation
import MusicCore
import Testing

/// An `Idempotency-Key` belongs to one organization, user and key: a user who
/// is a member of two organizations may send the same key and body to both.
@Suite("Idempotency-Key scoped by organization")
struct IdempotencyScopeTests {
    let app: TestApp
    init() throws {
        app = try TestApp()
        // Alice, a member of A, becomes a member of B too.
        _ = try app.admin.addMember(userID: app.alice, organizationID: app.orgB, capabilities: [.useMusicGeneration])
    }

    func create(in org: String, key: String = "same-key") -> TestResponse {
        app.request(.post, app.collectionsPath(org), key: app.aliceKey, json: #"{"name": "Twice"}"#,
                    headers: ["Idempotency-Key": key])
    }

    func names(in org: String) -> [String] {
        app.request(.get, app.collectionsPath(org) + "?limit=100", key: app.aliceKey).items.compactMap { $0["name"] as? String }
    }

    @Test("the same key and body to organization A then B create one collection in each; a replay within A still replays")
    func sameKeyTwoOrganizations() {
        let inA = create(in: app.orgA)
        #expect(inA.status == 201)
        let inB = create(in: app.orgB)
        #expect(inB.status == 201)
        #expect(inB.header("Idempotent-Replayed") == nil)
        #expect(inB["id"] as? String != inA["id"] as? String)
        #expect(inB.header("Location")?.hasPrefix("/v1/music/\(app.orgB)/collections/") == true)
        #expect(names(in: app.orgA) == ["Twice"])
        #expect(names(in: app.orgB) == ["Twice"])

        let againA = create(in: app.orgA)
        #expect(againA.status == 201)
        #expect(againA.header("Idempotent-Replayed") == "true")
        #expect(againA.bodyText == inA.bodyText)
        let againB = create(in: app.orgB)
        #expect(againB.header("Idempotent-Replayed") == "true")
        #expect(againB.bodyText == inB.bodyText)
        #expect(names(in: app.orgA).count == 1)
        #expect(names(in: app.orgB).count == 1)
    }

    @Test("the store keeps one record per organization, user and key")
    func storeScope() throws {
        let time = Timestamp(secondsSince1970: 1_782_642_600)
        for org in [app.orgA, app.orgB] {
            let record = IdempotencyRecord(organizationID: org, userID: app.alice, key: "k", requestHash: "h-\(org)", status: 201,
                                           body: Array(org.utf8), location: nil, etag: nil, createdAt: time)
            try app.store.write { try $0.keep(record) }
        }
        let a = try app.store.read { try $0.idempotencyRecord(organizationID: app.orgA, userID: app.alice, key: "k") }
        let b = try app.store.read { try $0.idempotencyRecord(organizationID: app.orgB, userID: app.alice, key: "k") }
        #expect(a?.requestHash == "h-\(app.orgA)")
        #expect(b?.requestHash == "h-\(app.orgB)")
        #expect(try app.store.read { try $0.idempotencyRecord(organizationID: app.orgA, userID: app.bob, key: "k") } == nil)
    }

    @Test("member add: a new member, then new capabilities for an existing one; member remove ends it")
    func memberAddAndRemove() throws {
        // Dave (B) joins A without capabilities: his key opens A, but every endpoint needs the capability.
        #expect(app.request(.get, app.collectionsPath(app.orgA), key: app.daveKey).errorCode == "ORGANIZATION_ACCESS_DENIED")
        #expect(try app.admin.addMember(userID: app.dave, organizationID: app.orgA, capabilities: []).change == .added)
        #expect(app.request(.get, app.collectionsPath(app.orgA), key: app.daveKey).errorCode == "INSUFFICIENT_PERMISSIONS")
        let updated = try app.admin.addMember(userID: app.dave, organizationID: app.orgA, capabilities: [.useMusicGeneration])
        #expect(updated.change == .updated)
        #expect(updated.previous == [])
        #expect(app.request(.post, app.collectionsPath(app.orgA), key: app.daveKey, json: #"{"name": "x"}"#).status == 201)
        try app.admin.removeMember(userID: app.dave, organizationID: app.orgA)
        #expect(app.request(.get, app.collectionsPath(app.orgA), key: app.daveKey).errorCode == "ORGANIZATION_ACCESS_DENIED")
        #expect(try app.store.read { try $0.membership(userID: app.dave, organizationID: app.orgB) } != nil)

        #expect(throws: AdminService.AdminError.notFound("member \(app.dave) of organization \(app.orgA)")) {
            try app.admin.removeMember(userID: app.dave, organizationID: app.orgA)
        }
        #expect(throws: AdminService.AdminError.notFound("organization org_missing")) {
            try app.admin.addMember(userID: app.dave, organizationID: "org_missing", capabilities: [])
        }
        #expect(throws: AdminService.AdminError.notFound("user usr_missing")) {
            try app.admin.addMember(userID: "usr_missing", organizationID: app.orgA, capabilities: [])
        }
    }
}
