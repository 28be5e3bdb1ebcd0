import GRDB

/// One connection's prepared statements, one slot per `StatementID`: a lookup is
/// an array index. GRDB's `cachedStatement(sql:)` hashes the whole text for
/// every query (docs/performance.md); here the text is built and hashed only the first time a
/// statement is prepared on the connection. Used only by the thread that owns
/// the connection.
final class StatementCache {
    private var slots = [Statement?](repeating: nil, count: StatementID.allCases.count)

    /// How many statements are prepared.
    var count: Int { slots.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }

    /// The prepared statement `id` on `db` (the connection this cache belongs to).
    func statement(_ id: StatementID, in db: Database) throws -> OpaquePointer {
        if let statement = slots[id.rawValue] { return statement.sqliteStatement }
        let statement = try db.cachedStatement(sql: id.sql)
        slots[id.rawValue] = statement
        return statement.sqliteStatement
    }

    /// Lets the statements go (before the connection closes).
    func removeAll() {
        for index in slots.indices { slots[index] = nil }
    }
}
