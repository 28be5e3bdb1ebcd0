import Foundation
import GRDB
import MusicCore
@testable import MusicSQLite
import Testing

/// A page of members is read from one index (v7): no search of the table per row.
@Suite("SQLite: member pages from a covering index")
struct MemberPageIndexTests {
    let path = NSTemporaryDirectory() + "music-member-index-" + UUID().uuidString + ".sqlite"

    private func removeFiles() {
        for suffix in ["", "-wal", "-shm", "-open.lock"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// SQLite's plan for a statement, one line per step.
    private func plan(_ id: StatementID, in db: Database) throws -> [String] {
        try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + id.sql, arguments: StatementArguments(
            Array(repeating: DatabaseValue.null, count: id.sql.filter { $0 == "?" }.count))).map { $0["detail"] }
    }

    @Test("the page queries search collection_tracks with the covering index, and no other index orders by position")
    func coveringPlan() throws {
        let queue = try DatabaseQueue()
        try queue.writeWithoutTransaction { try SQLiteMigrations.migrate($0) }
        try queue.read { db in
            #expect(try plan(.members, in: db) == [
                "SEARCH collection_tracks USING COVERING INDEX collection_tracks_page (collection_id=? AND position>?)",
            ])
            let joined = try plan(.memberTracksPage, in: db)
            #expect(joined.first == "SEARCH m USING COVERING INDEX collection_tracks_page (collection_id=? AND position>?)", "\(joined)")
            let indexes = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'collection_tracks'")
            #expect(!indexes.contains("collection_tracks_by_position"))
        }
    }

    @Test("v7 on a database of v6: members, order and pages kept; appends, removals and reorders go on")
    func migrationKeepsMembers() throws {
        removeFiles()
        defer { removeFiles() }
        let queue = try DatabaseQueue(path: path)
        try SQLiteMigrations.migrator.migrate(queue, upTo: "v6: track shares and licence versions")
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO organizations VALUES ('org_1', 'Org', 0);
                INSERT INTO users VALUES ('usr_1', 'u@o.test', 0);
                INSERT INTO collections (id, organization_id, owner_user_id, name, track_count, version, created_at, updated_at)
                    VALUES ('mcoll_a', 'org_1', 'usr_1', 'a', 60, 1, 10, 10);
                """)
            for index in 0..<60 {
                try db.execute(sql: "INSERT INTO tracks VALUES (?, 'org_1', 'usr_1', 'T', 'e', 'm', NULL, 0, 'audio/mpeg', 'c', 0, NULL, '1.0')",
                               arguments: ["trk_\(index)"])
                // Positions in the reverse order of the track ids, each with its own time.
                try db.execute(sql: "INSERT INTO collection_tracks VALUES ('mcoll_a', ?, ?, ?)",
                               arguments: ["trk_\(index)", 59 - index, 1_000 + index])
            }
        }
        try queue.close()

        let store = try SQLiteStore(path: path)
        let page = try store.read { try $0.members(collectionID: "mcoll_a", fromPosition: 10, limit: 50) }
        let positions: [Int] = page.map(\.position)
        let trackIDs: [String] = page.map(\.trackID)
        let times: [Int64] = page.map(\.addedAt.secondsSince1970)
        let expectedIDs: [String] = (10..<60).map { "trk_\(59 - $0)" }
        let expectedTimes: [Int64] = (10..<60).map { Int64(1_059 - $0) }
        #expect(positions == Array(10..<60))
        #expect(trackIDs == expectedIDs)
        #expect(times == expectedTimes)
        let joined = try store.read { try $0.memberTracks(collectionID: "mcoll_a", fromPosition: 58, limit: 5) }
        let joinedIDs: [String] = joined.map(\.track.id)
        #expect(joinedIDs == ["trk_1", "trk_0"])
        #expect(try store.integrityCheck() == "ok")

        try store.write { writer in
            try writer.removeMember(collectionID: "mcoll_a", trackID: "trk_59", position: 0)
            try writer.appendMember(collectionID: "mcoll_a", trackID: "trk_59", position: 59, addedAt: Timestamp(secondsSince1970: 5))
        }
        let after = try store.read { try $0.members(collectionID: "mcoll_a", fromPosition: 0, limit: 100) }
        let afterPositions: [Int] = after.map(\.position)
        #expect(afterPositions == Array(0..<60))
        #expect(after.last?.trackID == "trk_59")
        #expect(after.last?.addedAt.secondsSince1970 == 5)
        #expect(after.first?.trackID == "trk_58")
        #expect(try store.integrityCheck() == "ok")
    }
}
