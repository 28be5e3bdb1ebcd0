import Foundation
import GRDB
import MusicCore
@testable import MusicPostgres
@testable import MusicSQLite
import StoreTestSupport
import Testing

/// v5 keys idempotency records by organization too. Records kept before it keep
/// working: their organization is the one in their Location; a record without
/// one (none is written so, but a hand-made row could be) is dropped.
@Suite("v5: idempotency records per organization")
struct IdempotencyMigrationTests {
    static let v5 = "v5: idempotency records per organization"
    static let time: Int64 = 1_782_642_600

    func expectMigrated(_ store: any Store) throws {
        let kept = try store.read { try $0.idempotencyRecord(organizationID: "org_1", userID: "usr_1", key: "kept") }
        #expect(kept?.location == "/v1/music/org_1/collections/mcoll_a")
        #expect(kept?.body == Array(#"{"id":"mcoll_a"}"#.utf8))
        #expect(kept?.requestHash == "h1")
        #expect(try store.read { try $0.idempotencyRecord(organizationID: "org_2", userID: "usr_1", key: "kept") } == nil)
        // The organization-less row is gone: the same key can be kept afresh in any organization.
        let again = IdempotencyRecord(organizationID: "org_2", userID: "usr_1", key: "nowhere", requestHash: "h", status: 201,
                                      body: [1], location: nil, etag: nil, createdAt: Timestamp(secondsSince1970: Self.time))
        try store.write { try $0.keep(again) }
        #expect(try store.read { try $0.idempotencyRecord(organizationID: "org_2", userID: "usr_1", key: "nowhere") } == again)
    }

    @Test("SQLite: a v4 database's records are found under the organization of their Location")
    func sqlite() throws {
        let path = NSTemporaryDirectory() + "music-v5-" + UUID().uuidString + ".sqlite"
        defer { for suffix in ["", "-wal", "-shm", "-open.lock"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let queue = try DatabaseQueue(path: path)
        try SQLiteMigrations.migrator.migrate(queue, upTo: "v4: collections without AUTOINCREMENT")
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO idempotency_keys VALUES ('usr_1', 'kept', 'h1', 201, CAST('{"id":"mcoll_a"}' AS BLOB),
                                                     '/v1/music/org_1/collections/mcoll_a', '"1"', \(Self.time));
                INSERT INTO idempotency_keys VALUES ('usr_1', 'nowhere', 'h2', 201, x'00', NULL, NULL, \(Self.time));
                """)
        }
        try queue.close()
        try expectMigrated(SQLiteStore(path: path))
        // A worker of the previous version, not yet restarted by the upgrade, still
        // finds its table.
        let old = try DatabaseQueue(path: path)
        #expect(try old.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM idempotency_keys") } == 2)
        try old.close()
    }

    @Test("PostgreSQL: a v3 schema's records are found under the organization of their Location",
          .enabled(if: TestDatabase.postgresURL != nil))
    func postgres() throws {
        let url = try #require(TestDatabase.postgresURL)
        let schema = "v5_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let connection = try PostgresConnection(settings: PostgresConnectionSettings(url: url), sessionSetup: nil, deadline: nil)
        defer { try? connection.execute(simple: "DROP SCHEMA IF EXISTS \(schema) CASCADE") }
        try connection.execute(simple: """
            CREATE SCHEMA \(schema); SET search_path TO \(schema);
            CREATE TABLE schema_migrations (identifier TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
            """)
        for migration in PostgresMigrations.migrations.prefix(while: { $0.name != Self.v5 }) {
            try connection.execute(simple: migration.sql)
            try connection.execute("INSERT INTO schema_migrations (identifier) VALUES ($1)", [migration.name])
        }
        try connection.execute(simple: """
            INSERT INTO idempotency_keys VALUES ('usr_1', 'kept', 'h1', 201, convert_to('{"id":"mcoll_a"}', 'UTF8'),
                                                 '/v1/music/org_1/collections/mcoll_a', '"1"', \(Self.time));
            INSERT INTO idempotency_keys VALUES ('usr_1', 'nowhere', 'h2', 201, '\\x00', NULL, NULL, \(Self.time))
            """)
        try expectMigrated(PostgresStore(url: url, schema: schema, connections: 1, applicationName: schema))
        // A worker of the previous version (another host, mid rolling upgrade) still
        // finds its table.
        try connection.execute(simple: "SET search_path TO \(schema); SELECT count(*) FROM idempotency_keys")
    }
}
