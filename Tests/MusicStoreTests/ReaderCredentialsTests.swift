import Foundation
import MusicCore
@testable import MusicSQLite
import StoreTestSupport
import Testing

/// Reads authenticate inside their transaction; on SQLite each read connection
/// keeps what it found (`ReaderCredentials`) for as long as nothing was
/// committed. Whatever changes a key or a membership, from this store or
/// another connection, must count from the next read on. These run on
/// whichever store the run targets; the memo's own rules are below.
@Suite("Credentials seen by reads")
struct ReadCredentialsTests {
    let database: TestDatabase
    let store: any Store
    let admin: AdminService
    let organization: Organization
    let user: User
    let key: (record: APIKeyRecord, rawKey: String)

    init() throws {
        database = try TestDatabase()
        store = database.store
        admin = AdminService(store: store)
        organization = try admin.createOrganization(name: "Org")
        user = try admin.createUser(email: "u@o.test", organizationID: organization.id, capabilities: [.useMusicGeneration])
        key = try admin.createAPIKey(userID: user.id)
    }

    /// Authenticates the way a read request does: inside a read transaction.
    func authenticateInRead(organizationID: String? = nil) throws -> Caller {
        try store.read { _ in
            try Authenticator(store: store).authenticate(key: key.rawKey, organizationID: organizationID ?? organization.id)
        }
    }

    func expectRefused(_ error: MusicError, organizationID: String? = nil) {
        #expect(throws: error) { try authenticateInRead(organizationID: organizationID) }
    }

    @Test("the same key read after read, then revoked through another connection: refused by the next read")
    func revokedElsewhere() throws {
        for _ in 0..<3 { #expect(try authenticateInRead().userID == user.id) }
        try AdminService(store: try database.anotherStore()).revokeAPIKey(id: key.record.id)
        expectRefused(.apiKeyDeactivated)
    }

    @Test("a key revoked through the same store is refused by the next read")
    func revokedHere() throws {
        for _ in 0..<3 { #expect(try authenticateInRead().userID == user.id) }
        try admin.revokeAPIKey(id: key.record.id)
        expectRefused(.apiKeyDeactivated)
    }

    @Test("a capability withdrawn, then the membership removed, through another connection: each refused by the next read")
    func membershipChangedElsewhere() throws {
        #expect(try authenticateInRead().userID == user.id)
        let other = try database.anotherStore()
        try other.write { try $0.upsert(Membership(organizationID: organization.id, userID: user.id, capabilities: [])) }
        expectRefused(.insufficientPermissions)
        try other.write { _ = try $0.removeMembership(userID: user.id, organizationID: organization.id) }
        expectRefused(.organizationAccessDenied)
    }

    @Test("a key of another organization, then granted there: refused, then admitted")
    func grantedLater() throws {
        let second = try admin.createOrganization(name: "Second")
        expectRefused(.organizationAccessDenied, organizationID: second.id)
        try database.anotherStore().write {
            try $0.upsert(Membership(organizationID: second.id, userID: user.id, capabilities: [.useMusicGeneration]))
        }
        #expect(try authenticateInRead(organizationID: second.id).userID == user.id)
        #expect(try authenticateInRead().userID == user.id)
    }
}

/// The memo's own rules.
@Suite("A read connection's credentials memo")
struct ReaderCredentialsMemoTests {
    let memo = ReaderCredentials()
    let found: ReaderCredentials.Credentials = (
        APIKeyRecord(id: "akey_1", userID: "usr_1", hash: String(repeating: "a", count: 64), active: true, createdAt: Timestamp(secondsSince1970: 0)),
        Membership(organizationID: "org_1", userID: "usr_1", capabilities: [.useMusicGeneration])
    )

    func key(_ index: Int) -> WriterCredentials.Key {
        WriterCredentials.Key(hash: String(repeating: "a", count: 60) + String(format: "%04d", index), organizationID: "org_1")
    }

    @Test("found only at the data version it was kept at; a new version empties it")
    func dataVersion() {
        #expect(memo.lookup(key(0), dataVersion: 1) == nil)
        memo.keep(key(0), found, dataVersion: 1)
        #expect(memo.lookup(key(0), dataVersion: 1)?.key == found.key)
        #expect(memo.lookup(key(0), dataVersion: 2) == nil)
        memo.keep(key(1), found, dataVersion: 2)
        #expect(memo.lookup(key(1), dataVersion: 2) != nil)
        #expect(memo.lookup(key(0), dataVersion: 1) == nil)
        #expect(memo.lookup(key(0), dataVersion: 2) == nil)
    }

    @Test("at most capacity entries: the next one empties it first")
    func bounded() {
        for index in 0..<ReaderCredentials.capacity { memo.keep(key(index), found, dataVersion: 7) }
        #expect(memo.lookup(key(0), dataVersion: 7) != nil)
        memo.keep(key(ReaderCredentials.capacity), found, dataVersion: 7)
        #expect(memo.lookup(key(0), dataVersion: 7) == nil)
        #expect(memo.lookup(key(ReaderCredentials.capacity), dataVersion: 7) != nil)
    }
}
