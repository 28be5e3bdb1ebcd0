import Foundation
import MusicCore
import MusicPostgres
import MusicStores
import StoreTestSupport
import Testing

@Suite("Choosing the store")
struct StoreChoiceTests {
    @Test("a postgres URL selects PostgreSQL; otherwise the SQLite file from --db, MUSIC_DB or the default")
    func resolve() throws {
        #expect(try StoreChoice.resolve(url: "postgres://u@h/db", sqlitePath: "x.sqlite", environment: [:]) == .postgres(url: "postgres://u@h/db"))
        #expect(try StoreChoice.resolve(url: nil, sqlitePath: nil, environment: ["MUSIC_DATABASE_URL": "postgresql:///m"]) == .postgres(url: "postgresql:///m"))
        #expect(try StoreChoice.resolve(url: nil, sqlitePath: "a.sqlite", environment: ["MUSIC_DB": "b.sqlite"]) == .sqlite(path: "a.sqlite"))
        #expect(try StoreChoice.resolve(url: nil, sqlitePath: nil, environment: ["MUSIC_DB": "b.sqlite"]) == .sqlite(path: "b.sqlite"))
        #expect(try StoreChoice.resolve(url: nil, sqlitePath: nil, environment: [:]) == .sqlite(path: "var/music.sqlite"))
        #expect(throws: StoreUnavailableError.self) { try StoreChoice.resolve(url: "mysql://h/db", sqlitePath: nil, environment: [:]) }
    }

    @Test("the display name never shows a password")
    func displayName() {
        let choice = StoreChoice.postgres(url: "postgres://music:s3cret@db.internal:5432/music?sslmode=require")
        #expect(!choice.displayName.contains("s3cret"))
        #expect(choice.displayName.contains("db.internal"))
    }

    @Test("an unreachable server is a StoreUnavailableError (503), not a crash")
    func unreachable() {
        #expect(throws: StoreUnavailableError.self) {
            _ = try PostgresStore(url: "postgresql:///postgres?host=/nonexistent-music-socket&connect_timeout=2")
        }
    }
}

/// Connection loss on a real server: only meaningful on PostgreSQL, so this
/// suite runs in `deploy/test`'s PostgreSQL pass (MUSIC_TEST_DATABASE_URL).
@Suite("PostgreSQL connections", .enabled(if: TestDatabase.postgresURL != nil))
struct PostgresConnectionTests {
    let database: TestDatabase
    let caller: Caller

    init() throws {
        database = try TestDatabase()
        let admin = AdminService(store: database.store)
        let organization = try admin.createOrganization(name: "Org")
        let user = try admin.createUser(email: "u@o.test", organizationID: organization.id, capabilities: [.useMusicGeneration])
        caller = Caller(userID: user.id, organizationID: organization.id)
    }

    /// Ends every server session of this test's store in `state`, as a database
    /// restart or a network cut would, and returns how many ended. Each
    /// termination waits (up to 10 s) until the server process has exited, so the
    /// store's next use of that connection finds it closed.
    @discardableResult
    func terminateSessions(state: String) throws -> Int {
        guard case .postgres(_, let schema) = database.kind else { return 0 }
        let output = try database.outsideQuery("""
            SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_stat_activity
            WHERE application_name = '\(schema)' AND state = '\(state)'
            """)
        return Int(output) ?? 0
    }

    @Test("a connection lost mid-transaction fails that transaction (503); the next one succeeds on a new connection")
    func lostInFlight() throws {
        let service = CollectionService(store: database.store)
        _ = try service.list(limit: 1, offset: 0, as: caller) // opens a connection
        #expect(throws: StoreUnavailableError.self) {
            try database.store.write { writer in
                try writer.insert(Organization(id: "org_00000000lost", name: "lost", createdAt: .init(secondsSince1970: 0)))
                #expect(try terminateSessions(state: "idle in transaction") >= 1)
                _ = try writer.organization(id: "org_00000000lost")
            }
        }
        #expect(try database.store.read { try $0.organization(id: "org_00000000lost") } == nil)
        #expect(try service.create(CollectionDraft(name: "after"), as: caller).name == "after")
    }

    @Test("idle connections killed by a server restart are re-opened without failing a request")
    func idleConnectionsReopen() throws {
        let service = CollectionService(store: database.store)
        _ = try service.create(CollectionDraft(name: "before"), as: caller)
        #expect(try terminateSessions(state: "idle") >= 1)
        #expect(try service.list(limit: 10, offset: 0, as: caller).map(\.name) == ["before"])
        #expect(try service.create(CollectionDraft(name: "after"), as: caller).name == "after")
    }
}
