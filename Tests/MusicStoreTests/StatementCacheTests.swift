import CSQLiteTuning
import GRDB
@testable import MusicSQLite
import Testing

/// `StatementCache` finds statements by where their SQL text is stored; it must
/// never hand out the statement of another text.
@Suite("The SQLite statement cache")
struct StatementCacheTests {
    let queue: DatabaseQueue
    let cache = StatementCache()

    init() throws {
        queue = try DatabaseQueue()
    }

    /// Runs `sql` through the cache and returns its one integer.
    func value(_ sql: String) throws -> Int64 {
        try queue.inDatabase { db in
            try SQLiteTransaction(db: db, statements: cache).first(sql, []) { $0.int64(0) } ?? -1
        }
    }

    static let stored = "SELECT 40 + 2 AS answer_from_a_stored_text"

    @Test("a stored text is prepared once and found again")
    func storedText() throws {
        #expect(try value(Self.stored) == 42)
        #expect(try value(Self.stored) == 42)
        #expect(try value("SELECT 7 AS answer_from_a_literal_text") == 7)
        #expect(try value("SELECT 7 AS answer_from_a_literal_text") == 7)
        #expect(cache.count == 2)
    }

    @Test("a text found under another text's key (a reused address) runs its own statement, and replaces the other")
    func sameKeyOtherText() throws {
        let key = StatementCache.Key.stored(0x1000)
        func value(_ sql: String) throws -> Int64 {
            try queue.inDatabase { db in
                let statement = try cache.statement(sql, in: db, key: key)
                defer { music_sqlite_reset(statement) }
                #expect(music_sqlite_step(statement) == 100)
                return music_sqlite_column_int64(statement, 0)
            }
        }
        #expect(try value("SELECT 1 AS first_text_at_this_address") == 1)
        #expect(try value("SELECT 2 AS second_text_at_this_address") == 2)
        #expect(try value("SELECT 1 AS first_text_at_this_address") == 1)
        #expect(cache.count == 1)
    }

    @Test("texts built at run time run their own statement; the cache keeps at most its capacity")
    func builtTexts() throws {
        for number in 0..<2_000 {
            #expect(try value("SELECT \(number) AS number_of_this_iteration") == Int64(number))
        }
        #expect(cache.count == StatementCache.capacity)
    }

    @Test("short texts (held inside the string value) are told apart by their text")
    func shortTexts() throws {
        for number in 0..<20 {
            let sql = "SELECT \(number)"
            #expect(try value(sql) == Int64(number))
            #expect(try value("SELECT 99") == 99)
        }
        // Each kept under its own text, none displacing another.
        #expect(cache.count == 21)
    }
}
