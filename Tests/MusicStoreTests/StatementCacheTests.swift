import GRDB
import GRDBSQLite
@testable import MusicSQLite
import Testing

/// `StatementCache` finds a connection's prepared statements by `StatementID`:
/// each identity is prepared once, runs its own text, and every text prepares
/// on the schema the migrations make.
@Suite("The SQLite statement cache")
struct StatementCacheTests {
    let queue: DatabaseQueue
    let cache = StatementCache()

    init() throws {
        queue = try DatabaseQueue()
        try queue.writeWithoutTransaction { try SQLiteMigrations.migrate($0) }
    }

    @Test("every statement prepares on the migrated schema, under its own identity, and runs its own text")
    func everyStatementIsItsOwn() throws {
        try queue.inDatabase { db in
            var seen: Set<OpaquePointer> = []
            for id in StatementID.allCases {
                let statement = try cache.statement(id, in: db)
                #expect(String(cString: sqlite3_sql(statement)) == id.sql, "\(id)")
                #expect(seen.insert(statement).inserted, "\(id) shares another identity's statement")
            }
        }
        #expect(cache.count == StatementID.allCases.count)
    }

    @Test("an identity is prepared once and found again, until the cache lets it go")
    func preparedOnce() throws {
        try queue.inDatabase { db in
            let first = try cache.statement(.dataVersion, in: db)
            #expect(try cache.statement(.dataVersion, in: db) == first)
            #expect(cache.count == 1)
            #expect(try SQLiteTransaction(db: db, statements: cache).first(.dataVersion, []) { $0.int64(0) } != nil)
            #expect(cache.count == 1)
            cache.removeAll()
            #expect(cache.count == 0)
        }
    }

    @Test("the collections holding a track come in id order from the index, with no sort")
    func collectionIDsNeedNoSort() throws {
        let plan = try queue.inDatabase { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + StatementID.collectionIDsContainingTrack.sql, arguments: ["t"])
                .map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains("collection_tracks_by_track") }, "\(plan)")
        #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
    }
}
