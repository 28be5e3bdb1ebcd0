import Foundation
import MusicCore
@testable import MusicSQLite
import StoreTestSupport
import Testing

/// Writes authenticate inside their transaction; on SQLite the writer keeps what
/// it found (`WriterCredentials`). Whatever changes a key or a membership, from
/// this store or another connection, must count from the next write on. These
/// run on whichever store the run targets; the memo's own rules are below.
@Suite("Credentials seen by writes")
struct WriteCredentialsTests {
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

    /// Authenticates the way a write request does: inside a write transaction.
    func authenticateInWrite(organizationID: String? = nil) throws -> Caller {
        try store.write { _ in
            try Authenticator(store: store).authenticate(key: key.rawKey, organizationID: organizationID ?? organization.id)
        }
    }

    func expectRefused(_ error: MusicError, organizationID: String? = nil) {
        #expect(throws: error) { try authenticateInWrite(organizationID: organizationID) }
    }

    @Test("a key revoked through another connection is refused by the next write")
    func revokedElsewhere() throws {
        #expect(try authenticateInWrite().userID == user.id)
        try AdminService(store: try database.anotherStore()).revokeAPIKey(id: key.record.id)
        expectRefused(.apiKeyDeactivated)
    }

    @Test("a key revoked through the same store is refused by the next write")
    func revokedHere() throws {
        #expect(try authenticateInWrite().userID == user.id)
        try admin.revokeAPIKey(id: key.record.id)
        expectRefused(.apiKeyDeactivated)
    }

    @Test("a capability withdrawn through another connection is refused by the next write")
    func capabilityWithdrawnElsewhere() throws {
        #expect(try authenticateInWrite().userID == user.id)
        try database.anotherStore().write { try $0.upsert(Membership(organizationID: organization.id, userID: user.id, capabilities: [])) }
        expectRefused(.insufficientPermissions)
    }

    @Test("a membership granted in a transaction that rolls back is not remembered")
    func rolledBackGrant() throws {
        let other = try admin.createOrganization(name: "Other")
        expectRefused(.organizationAccessDenied, organizationID: other.id)
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try store.write { writer in
                try writer.upsert(Membership(organizationID: other.id, userID: user.id, capabilities: [.useMusicGeneration]))
                // Inside the transaction the grant is visible, as it must be.
                _ = try Authenticator(store: store).authenticate(key: key.rawKey, organizationID: other.id)
                throw Abort()
            }
        }
        expectRefused(.organizationAccessDenied, organizationID: other.id)
        #expect(try authenticateInWrite().userID == user.id)
    }

    /// Backup and restore are SQLite's (PostgreSQL has pg_dump and pg_restore).
    @Test("a restore forgets credentials that the backup does not hold", .enabled(if: TestDatabase.postgresURL == nil))
    func restoreForgets() throws {
        let sqlite = try #require(store as? SQLiteStore)
        guard case .sqlite(let path) = database.kind else {
            Issue.record("the SQLite store has no SQLite path: \(database.kind)")
            return
        }
        let backup = path + ".before-key"
        defer { try? FileManager.default.removeItem(atPath: backup) }
        let later = try AdminService(store: store).createAPIKey(userID: user.id)
        try sqlite.backup(to: backup)
        _ = try admin.createAPIKey(userID: user.id)
        let fresh = try admin.createAPIKey(userID: user.id)
        let authenticateFresh = {
            try sqlite.write { _ in try Authenticator(store: sqlite).authenticate(key: fresh.rawKey, organizationID: organization.id) }
        }
        #expect(try authenticateFresh().userID == user.id)
        try sqlite.restore(from: backup)
        #expect(throws: MusicError.invalidAPIKey) { try authenticateFresh() }
        #expect(try sqlite.write { _ in try Authenticator(store: sqlite).authenticate(key: later.rawKey, organizationID: organization.id) }.userID == user.id)
    }
}

/// The memo's own rules.
@Suite("The writer's credentials memo")
struct WriterCredentialsTests {
    let memo = WriterCredentials()
    let key = WriterCredentials.Key(hash: String(repeating: "a", count: 64), organizationID: "org_1")
    let found: WriterCredentials.Credentials = (
        APIKeyRecord(id: "akey_1", userID: "usr_1", hash: String(repeating: "a", count: 64), active: true, createdAt: Timestamp(secondsSince1970: 0)),
        Membership(organizationID: "org_1", userID: "usr_1", capabilities: [.useMusicGeneration])
    )

    @Test("kept while the data version holds; gone when it moves")
    func dataVersion() {
        memo.transactionBegan(dataVersion: 1)
        memo.keep(key, found)
        #expect(memo.lookup(key)?.key == found.key)
        memo.transactionBegan(dataVersion: 1)
        #expect(memo.lookup(key)?.membership == found.membership)
        memo.transactionBegan(dataVersion: 2)
        #expect(memo.lookup(key) == nil)
        memo.keep(key, found)
        memo.transactionBegan(dataVersion: nil)
        #expect(memo.lookup(key) == nil)
    }

    @Test("a credentials write empties it and keeps it empty until the transaction ends")
    func ownWrite() {
        memo.transactionBegan(dataVersion: 1)
        memo.keep(key, found)
        memo.credentialsChanged()
        #expect(memo.lookup(key) == nil)
        memo.keep(key, found)
        #expect(memo.lookup(key) == nil)
        memo.transactionBegan(dataVersion: 1)
        #expect(memo.lookup(key) == nil)
        memo.keep(key, found)
        #expect(memo.lookup(key) != nil)
    }

    @Test("forgetting all also forgets the data version")
    func forgetAll() {
        memo.transactionBegan(dataVersion: 1)
        memo.keep(key, found)
        memo.forgetAll()
        #expect(memo.lookup(key) == nil)
        memo.transactionBegan(dataVersion: 1)
        memo.keep(key, found)
        #expect(memo.lookup(key) != nil)
    }

    @Test("other organizations and other keys are other entries; the size is capped")
    func keysAndCapacity() {
        memo.transactionBegan(dataVersion: 1)
        memo.keep(key, found)
        #expect(memo.lookup(.init(hash: key.hash, organizationID: "org_2")) == nil)
        #expect(memo.lookup(.init(hash: String(repeating: "b", count: 64), organizationID: "org_1")) == nil)
        for index in 0..<WriterCredentials.capacity {
            memo.keep(.init(hash: "\(index)", organizationID: "org_1"), found)
        }
        // Full: the next keep started over, so the first entry is gone and the last one is there.
        #expect(memo.lookup(key) == nil)
        #expect(memo.lookup(.init(hash: "\(WriterCredentials.capacity - 1)", organizationID: "org_1")) != nil)
    }
}
