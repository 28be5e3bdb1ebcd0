import GRDB

/// One connection's prepared statements, found by where their SQL text is stored
/// rather than by hashing the text: GRDB's `cachedStatement(sql:)` hashes the
/// whole text for every query (callgrind, add-track: about 10,000 instructions a
/// request in those lookups). The SQL texts of `SQLiteTransaction` and of the
/// transaction statements are literals or static constants longer than 15 bytes,
/// so a text keeps its address for the life of the process. A hit is still
/// checked against the text itself (equal in one step when it is the same
/// string), so a text at a reused address never runs another's statement.
/// Used only by the thread that owns the connection.
final class StatementCache {
    /// Where a text is found: its address, or the text itself for one of up to 15
    /// bytes (held inside the `String` value, with no address of its own).
    enum Key: Equatable {
        case stored(UInt)
        case short(String)
    }

    private struct Entry {
        let key: Key
        let sql: String
        let statement: Statement
    }

    /// More distinct texts than the service has: once full, a new text is
    /// prepared through GRDB's own cache and not kept here.
    static let capacity = 256

    /// Open addressing with linear probing, twice the capacity in slots.
    private var slots: [Entry?] = Array(repeating: nil, count: 2 * StatementCache.capacity)
    private(set) var count = 0

    /// The prepared statement for `sql` on `db` (the connection this cache belongs to).
    func statement(_ sql: String, in db: Database) throws -> UnsafeMutableRawPointer {
        try statement(sql, in: db, key: Self.key(sql))
    }

    /// The same, with the key given (tests give two texts one key, as a reused address would).
    func statement(_ sql: String, in db: Database, key: Key) throws -> UnsafeMutableRawPointer {
        let mask = slots.count - 1
        var index = Self.slot(of: key) & mask
        while let entry = slots[index] {
            if entry.key == key {
                if entry.sql == sql { return UnsafeMutableRawPointer(entry.statement.sqliteStatement) }
                // Another text at this address (the first one's storage was freed): it takes the entry.
                let statement = try db.cachedStatement(sql: sql)
                slots[index] = Entry(key: key, sql: sql, statement: statement)
                return UnsafeMutableRawPointer(statement.sqliteStatement)
            }
            index = (index + 1) & mask
        }
        let statement = try db.cachedStatement(sql: sql)
        if count < Self.capacity {
            slots[index] = Entry(key: key, sql: sql, statement: statement)
            count += 1
        }
        return UnsafeMutableRawPointer(statement.sqliteStatement)
    }

    /// Lets the statements go (before the connection closes).
    func removeAll() {
        slots = Array(repeating: nil, count: slots.count)
        count = 0
    }

    private static func key(_ sql: String) -> Key {
        if sql.utf8.count <= 15 { return .short(sql) }
        return .stored(sql.utf8.withContiguousStorageIfAvailable { UInt(bitPattern: $0.baseAddress) } ?? 0)
    }

    private static func slot(of key: Key) -> Int {
        switch key {
        case .stored(let address):
            // Fibonacci hashing: texts sit close together in memory, their slots do not.
            return Int(truncatingIfNeeded: (address &* 0x9E37_79B9_7F4A_7C15) >> 40)
        case .short(let text):
            return text.utf8.reduce(0) { $0 &* 31 &+ Int($1) } & Int.max
        }
    }
}
