import Foundation
import GRDB
import MusicCore
@testable import MusicSQLite
import Testing

/// Migrations that rebuild a table must keep every row and every reference.
@Suite("SQLite migrations")
struct SQLiteMigrationTests {
    let path = NSTemporaryDirectory() + "music-migration-" + UUID().uuidString + ".sqlite"

    @Test("v4 rebuilds collections without AUTOINCREMENT: rows, numbers, members, shares and order kept; new rows numbered after")
    func collectionsRebuilt() throws {
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        // A database as v3 left it, with data in every table that refers to collections.
        let queue = try DatabaseQueue(path: path)
        try SQLiteMigrations.migrator.migrate(queue, upTo: "v3: idempotency keys")
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO organizations VALUES ('org_1', 'Org', 0);
                INSERT INTO users VALUES ('usr_1', 'u@o.test', 0);
                INSERT INTO tracks VALUES ('trk_1', 'org_1', 'usr_1', 'T', 'e', 'm', NULL, 0, 'audio/mpeg', 'c', 0, NULL);
                INSERT INTO collections (id, organization_id, owner_user_id, name, track_count, version, created_at, updated_at)
                    VALUES ('mcoll_a', 'org_1', 'usr_1', 'first', 1, 2, 10, 10),
                           ('mcoll_b', 'org_1', 'usr_1', 'second', 0, 1, 10, 10),
                           ('mcoll_c', 'org_1', 'usr_1', 'third', 0, 1, 20, 20);
                UPDATE collections SET deleted_at = 30 WHERE id = 'mcoll_c';
                INSERT INTO collection_tracks VALUES ('mcoll_a', 'trk_1', 0, 10);
                INSERT INTO share_links VALUES ('shr_1', 'hash', 'mcoll_a', 'org_1', 'usr_1', 'link_only', NULL, 10, NULL);
                """)
        }
        let before = try queue.read { db in try Row.fetchAll(db, sql: "SELECT * FROM collections ORDER BY seq") }
        #expect(before.count == 3)

        let store = try SQLiteStore(path: path)
        let schema = try queue.read { db in
            try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'collections'") ?? ""
        }
        #expect(!schema.contains("AUTOINCREMENT"))
        #expect(try queue.read { db in try Row.fetchAll(db, sql: "SELECT * FROM collections ORDER BY seq") } == before)
        #expect(try queue.read { db in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check") }.isEmpty)
        #expect(try store.integrityCheck() == "ok")

        // Members and share links still point at their collection; listing order and the owner index hold.
        let caller = Caller(userID: "usr_1", organizationID: "org_1")
        #expect(try store.read { try $0.members(collectionID: "mcoll_a", fromPosition: 0, limit: 10) }.map(\.trackID) == ["trk_1"])
        #expect(try store.read { try $0.shareLink(tokenHash: "hash") }?.collectionID == "mcoll_a")
        let service = CollectionService(store: store, clock: FixedClock(Timestamp(secondsSince1970: 10)))
        let created = try service.create(CollectionDraft(name: "after"), as: caller)
        #expect(try service.list(limit: 10, offset: 0, as: caller).map(\.name) == ["after", "second", "first"])
        let seq = try queue.read { db in try Int.fetchOne(db, sql: "SELECT seq FROM collections WHERE id = ?", arguments: [created.id]) }
        #expect(seq == 4)
        #expect(try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_sequence WHERE name = 'collections'") } == 0)
    }
}

/// A clock that always reads the same time.
private struct FixedClock: WallClock {
    let time: Timestamp
    init(_ time: Timestamp) { self.time = time }
    func now() -> Timestamp { time }
}
