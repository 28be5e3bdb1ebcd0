import Foundation
import MusicCore
import StoreTestSupport
import Testing

/// Every model goes into the store and comes back unchanged, through the one
/// mapping from rows to models (`RowMapping`), on whichever store the run
/// targets: `deploy/test` runs this suite on SQLite and on PostgreSQL.
@Suite("Rows and models")
struct RowMappingTests {
    let database: TestDatabase
    let store: any Store
    let organization: Organization
    let user: User
    let tracks: [Track]

    static let time = Timestamp(secondsSince1970: 1_700_000_000)

    init() throws {
        database = try TestDatabase()
        store = database.store
        let admin = AdminService(store: store)
        organization = try admin.createOrganization(name: "Org")
        user = try admin.createUser(email: "rows@o.test", organizationID: organization.id, capabilities: [.useMusicGeneration])
        tracks = try admin.createTracks((0..<3).map { .init(title: "T\($0)") }, organizationID: organization.id, ownerID: user.id)
    }

    private func collection(_ id: String, deleted: Bool = false, described: Bool = false) -> MusicCollection {
        MusicCollection(
            id: id, organizationID: organization.id, ownerID: user.id, name: "Name of \(id)",
            description: described ? "Described, with ünïcode" : nil, coverTrackID: described ? tracks[0].id : nil,
            coverImageURL: described ? "https://example.test/cover.png" : nil, trackCount: 3, version: 7,
            createdAt: Self.time, updatedAt: Timestamp(secondsSince1970: Self.time.secondsSince1970 + 5),
            deletedAt: deleted ? Timestamp(secondsSince1970: Self.time.secondsSince1970 + 9) : nil
        )
    }

    @Test("organizations, users, keys and memberships of no, one and several capabilities")
    func identity() throws {
        #expect(try store.read { try $0.organization(id: organization.id) } == organization)
        #expect(try store.read { try $0.user(id: user.id) } == user)
        let admin = AdminService(store: store)
        let other = try admin.createUser(email: "other@o.test", organizationID: organization.id, capabilities: [])
        let key = APIKeyRecord(id: "key_rows", userID: other.id, hash: String(repeating: "a", count: 64), active: false,
                               createdAt: Self.time)
        try store.write { try $0.insert(key) }
        let several: Set<Capability> = [.useMusicGeneration, Capability(rawValue: "ADMINISTER"), Capability(rawValue: "AUDIT")]
        for capabilities in [Set<Capability>(), [.useMusicGeneration], several] {
            let membership = Membership(organizationID: organization.id, userID: other.id, capabilities: capabilities)
            try store.write { try $0.upsert(membership) }
            #expect(try store.read { try $0.membership(userID: other.id, organizationID: organization.id) } == membership)
            let credentials = try store.read { try $0.credentials(hash: key.hash, organizationID: organization.id) }
            #expect(credentials?.key == key)
            #expect(credentials?.membership == membership)
        }
        let elsewhere = try store.read { try $0.credentials(hash: key.hash, organizationID: "org_elsewhere") }
        #expect(elsewhere?.key == key)
        #expect(elsewhere.map { $0.membership == nil } == true)
    }

    @Test("tracks with and without their optional fields, alone and as members")
    func tracksRoundTrip() throws {
        let full = Track(id: "trk_rows_full", organizationID: organization.id, ownerID: user.id, title: "Fülл title",
                         engine: "engine-x", mode: "mode-y", measuredDurationSeconds: 123.25, instrumental: true,
                         mimeType: "audio/ogg", licenceClass: "cc_by", createdAt: Self.time)
        let bare = Track(id: "trk_rows_bare", organizationID: organization.id, ownerID: user.id, title: "Bare",
                         measuredDurationSeconds: nil, instrumental: false, createdAt: Self.time)
        try store.write { writer in
            try writer.insert(full)
            try writer.insert(bare)
            _ = try writer.insertIfIDFree(collection("mcoll_rows"))
            try writer.appendMember(collectionID: "mcoll_rows", trackID: full.id, position: 0, addedAt: Self.time)
            try writer.appendMember(collectionID: "mcoll_rows", trackID: bare.id, position: 1,
                                    addedAt: Timestamp(secondsSince1970: Self.time.secondsSince1970 + 1))
        }
        #expect(try store.read { try $0.track(id: full.id, organizationID: organization.id) } == full)
        #expect(try store.read { try $0.track(id: bare.id, organizationID: organization.id) } == bare)
        let listed = try store.read { try $0.tracks(organizationID: organization.id, limit: 100, offset: 0) }
        #expect(listed.filter { [full.id, bare.id].contains($0.id) }.sorted { $0.id > $1.id } == [bare, full].sorted { $0.id > $1.id })
        let members = try store.read { try $0.memberTracks(collectionID: "mcoll_rows", fromPosition: 0, limit: 10) }
        #expect(members == [CollectionTrack(track: full, position: 0), CollectionTrack(track: bare, position: 1)])
        let plain = try store.read { try $0.members(collectionID: "mcoll_rows", fromPosition: 0, limit: 10) }
        #expect(Array(plain) == [CollectionMember(trackID: full.id, position: 0, addedAt: Self.time),
                          CollectionMember(trackID: bare.id, position: 1, addedAt: Timestamp(secondsSince1970: Self.time.secondsSince1970 + 1))])
    }

    @Test("collections with and without their optional fields, live and deleted")
    func collectionsRoundTrip() throws {
        let described = collection("mcoll_described", described: true)
        let bare = collection("mcoll_bare")
        let deleted = collection("mcoll_deleted", deleted: true, described: true)
        let inserted = try store.write { writer in try [described, bare, deleted].map { try writer.insertIfIDFree($0) } }
        #expect(inserted == [true, true, true])
        for collection in [described, bare, deleted] {
            #expect(try store.read { try $0.anyCollection(id: collection.id) } == collection)
        }
        #expect(try store.read { try $0.collection(id: described.id, organizationID: organization.id, ownerID: user.id) } == described)
        #expect(try store.read { try $0.collection(id: deleted.id, organizationID: organization.id, ownerID: user.id) } == nil)
        let listed = try store.read { try $0.collections(organizationID: organization.id, ownerID: user.id, limit: 10, offset: 0) }
        #expect(Set(listed.map(\.id)) == [described.id, bare.id])
        #expect(listed.first { $0.id == bare.id } == bare)
    }

    @Test("share links with and without expiry and revocation")
    func shareLinksRoundTrip() throws {
        try store.write { _ = try $0.insertIfIDFree(collection("mcoll_shared")) }
        let open = ShareLink(id: "shr_open", tokenHash: String(repeating: "b", count: 64), collectionID: "mcoll_shared",
                             organizationID: organization.id, ownerID: user.id, visibility: .linkOnly, expiresAt: nil,
                             createdAt: Self.time)
        let closed = ShareLink(id: "shr_closed", tokenHash: String(repeating: "c", count: 64), collectionID: "mcoll_shared",
                               organizationID: organization.id, ownerID: user.id, visibility: .public,
                               expiresAt: Timestamp(secondsSince1970: Self.time.secondsSince1970 + 60), createdAt: Self.time,
                               revokedAt: Timestamp(secondsSince1970: Self.time.secondsSince1970 + 30))
        try store.write { writer in
            try writer.insert(open)
            try writer.insert(closed)
        }
        for link in [open, closed] {
            #expect(try store.read { try $0.shareLink(tokenHash: link.tokenHash) } == link)
            #expect(try store.read { try $0.shareLink(id: link.id, organizationID: organization.id, ownerID: user.id) } == link)
        }
    }

    @Test("idempotency records keep every byte of their answer")
    func idempotencyRecordsRoundTrip() throws {
        let now = Timestamp(secondsSince1970: Int64(Int(Date.now.timeIntervalSince1970)))
        let full = IdempotencyRecord(organizationID: organization.id, userID: user.id, key: "key-full",
                                     requestHash: String(repeating: "d", count: 64), status: 201, body: Array(0...255),
                                     location: "/v1/music/x", etag: "\"x-1\"", createdAt: now)
        let empty = IdempotencyRecord(organizationID: organization.id, userID: user.id, key: "key-empty",
                                      requestHash: String(repeating: "e", count: 64), status: 200, body: [],
                                      location: nil, etag: nil, createdAt: now)
        try store.write { writer in
            try writer.keep(full)
            try writer.keep(empty)
        }
        for record in [full, empty] {
            #expect(try store.read { try $0.idempotencyRecord(organizationID: organization.id, userID: user.id, key: record.key) } == record)
        }
    }

    @Test("the collections holding a track come in id order, whatever the order they took it in")
    func collectionIDsInIDOrder() throws {
        let ids = ["mcoll_0000000000c3", "mcoll_0000000000a1", "mcoll_0000000000d4", "mcoll_0000000000b2"]
        try store.write { writer in
            for id in ids {
                _ = try writer.insertIfIDFree(collection(id))
                try writer.appendMember(collectionID: id, trackID: tracks[1].id, position: 0, addedAt: Self.time)
            }
        }
        #expect(try store.read { try $0.collectionIDs(containing: tracks[1].id) } == ids.sorted())
        #expect(try store.read { try $0.collectionIDs(containing: tracks[2].id) } == [])
    }
}
