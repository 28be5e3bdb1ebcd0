import Foundation
import GRDB
import MusicCore
@testable import MusicPostgres
@testable import MusicSQLite
import StoreTestSupport
import Testing

/// v6: share links learn their target (a collection, as every earlier link, or
/// a track) and tracks their licence version (earlier ones: the first).
@Suite("v6: track shares and licence versions")
struct TrackShareMigrationTests {
    static let v6 = "v6: track shares and licence versions"
    static let time: Int64 = 1_782_642_600

    /// The rows every test starts from, in the schema before v6 (the same SQL on both stores).
    static let earlierRows = """
        INSERT INTO organizations VALUES ('org_1', 'Org', 0);
        INSERT INTO users VALUES ('usr_1', 'u@o.test', 0);
        INSERT INTO tracks VALUES ('mtrack_1', 'org_1', 'usr_1', 'T', 'e', 'm', NULL, \(false), 'audio/mpeg', 'standard', 0, NULL);
        INSERT INTO collections (id, organization_id, owner_user_id, name, track_count, version, created_at, updated_at)
            VALUES ('mcoll_a', 'org_1', 'usr_1', 'first', 1, 2, 10, 10);
        INSERT INTO collection_tracks VALUES ('mcoll_a', 'mtrack_1', 0, 10);
        INSERT INTO share_links VALUES ('mslink_1', 'hash-1', 'mcoll_a', 'org_1', 'usr_1', 'public', 99, 10, NULL);
        """

    func expectMigrated(_ store: any Store) throws {
        // The earlier link is a collection's, every field kept.
        let old = try store.read { try $0.shareLink(tokenHash: "hash-1") }
        #expect(old == ShareLink(id: "mslink_1", tokenHash: "hash-1", target: .collection("mcoll_a"), organizationID: "org_1",
                                 ownerID: "usr_1", visibility: .public, expiresAt: Timestamp(secondsSince1970: 99),
                                 createdAt: Timestamp(secondsSince1970: 10)))
        #expect(old?.collectionID == "mcoll_a" && old?.trackID == nil)
        // The earlier track has the first licence version; a new one keeps its own.
        #expect(try store.read { try $0.track(id: "mtrack_1", organizationID: "org_1") }?.licenceVersion == Track.defaultLicenceVersion)
        let newer = Track(id: "mtrack_2", organizationID: "org_1", ownerID: "usr_1", title: "N", licenceVersion: "2.0",
                          createdAt: Timestamp(secondsSince1970: Self.time))
        try store.write { try $0.insert(newer) }
        #expect(try store.read { try $0.track(id: "mtrack_2", organizationID: "org_1") } == newer)
        // A track's link is stored and read back as one.
        let trackLink = ShareLink(id: "mslink_2", tokenHash: "hash-2", target: .track("mtrack_2"), organizationID: "org_1",
                                  ownerID: "usr_1", visibility: .linkOnly, expiresAt: nil, createdAt: Timestamp(secondsSince1970: Self.time))
        try store.write { try $0.insert(trackLink) }
        #expect(try store.read { try $0.shareLink(tokenHash: "hash-2") } == trackLink)
        #expect(try store.read { try $0.shareLink(id: "mslink_2", organizationID: "org_1", ownerID: "usr_1") }?.trackID == "mtrack_2")
    }

    /// Statements the schema refuses: a link with two targets or none, or a
    /// track's link to no track.
    static let refused = [
        "INSERT INTO share_links VALUES ('mslink_x', 'hash-x', 'mcoll_a', 'org_1', 'usr_1', 'public', NULL, 10, NULL, 'track', 'mtrack_1')",
        "INSERT INTO share_links VALUES ('mslink_x', 'hash-x', NULL, 'org_1', 'usr_1', 'public', NULL, 10, NULL, 'collection', NULL)",
        "INSERT INTO share_links VALUES ('mslink_x', 'hash-x', NULL, 'org_1', 'usr_1', 'public', NULL, 10, NULL, 'track', NULL)",
        "INSERT INTO share_links VALUES ('mslink_x', 'hash-x', NULL, 'org_1', 'usr_1', 'public', NULL, 10, NULL, 'album', 'mtrack_1')",
    ]

    @Test("SQLite: a v5 database's links are collection links, its tracks version 1.0; track links are stored")
    func sqlite() throws {
        let path = NSTemporaryDirectory() + "music-v6-" + UUID().uuidString + ".sqlite"
        defer { for suffix in ["", "-wal", "-shm", "-open.lock"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let queue = try DatabaseQueue(path: path)
        try SQLiteMigrations.migrator.migrate(queue, upTo: "v5: idempotency records per organization")
        try queue.write { db in try db.execute(sql: Self.earlierRows) }
        try queue.close()
        let store = try SQLiteStore(path: path)
        try expectMigrated(store)
        #expect(try store.integrityCheck() == "ok")
        let check = try DatabaseQueue(path: path)
        defer { try? check.close() }
        #expect(try check.read { try Row.fetchAll($0, sql: "PRAGMA foreign_key_check") }.isEmpty)
        for statement in Self.refused {
            #expect(throws: DatabaseError.self, "\(statement)") { try check.write { try $0.execute(sql: statement) } }
        }
        // A worker of the previous version, until the upgrade restarts it, still writes a
        // link of its kind (without the new columns): a collection's.
        try check.write { db in
            try db.execute(sql: """
                INSERT INTO share_links (id, token_hash, collection_id, organization_id, owner_user_id, visibility, expires_at, created_at, revoked_at)
                VALUES ('mslink_3', 'hash-3', 'mcoll_a', 'org_1', 'usr_1', 'link_only', NULL, 10, NULL)
                """)
        }
        #expect(try store.read { try $0.shareLink(tokenHash: "hash-3") }?.target == .collection("mcoll_a"))
    }

    @Test("PostgreSQL: a v5 schema's links are collection links, its tracks version 1.0; track links are stored",
          .enabled(if: TestDatabase.postgresURL != nil))
    func postgres() throws {
        let url = try #require(TestDatabase.postgresURL)
        let schema = "v6_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let connection = try PostgresConnection(settings: PostgresConnectionSettings(url: url), sessionSetup: nil, deadline: nil)
        defer { try? connection.execute(simple: "DROP SCHEMA IF EXISTS \(schema) CASCADE") }
        try connection.execute(simple: """
            CREATE SCHEMA \(schema); SET search_path TO \(schema);
            CREATE TABLE schema_migrations (identifier TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
            """)
        for migration in PostgresMigrations.migrations.prefix(while: { $0.name != Self.v6 }) {
            try connection.execute(simple: migration.sql)
            try connection.execute("INSERT INTO schema_migrations (identifier) VALUES ($1)", [migration.name])
        }
        try connection.execute(simple: Self.earlierRows)
        try expectMigrated(PostgresStore(url: url, schema: schema, connections: 1, applicationName: schema))
        for statement in Self.refused {
            #expect(throws: (any Error).self, "\(statement)") {
                try connection.execute(simple: "SET search_path TO \(schema); " + statement)
            }
        }
        try connection.execute(simple: """
            SET search_path TO \(schema);
            INSERT INTO share_links (id, token_hash, collection_id, organization_id, owner_user_id, visibility, expires_at, created_at, revoked_at)
            VALUES ('mslink_3', 'hash-3', 'mcoll_a', 'org_1', 'usr_1', 'link_only', NULL, 10, NULL)
            """)
    }
}
