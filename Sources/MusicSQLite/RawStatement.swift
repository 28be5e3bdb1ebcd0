import GRDB
import GRDBSQLite
import MusicCore

/// SQLite copies a text or blob bound with this destructor.
nonisolated(unsafe) private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

/// A value bound to a statement parameter.
protocol SQLBindable {
    /// Binds the value to parameter `index` (1-based); an SQLite result code.
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32
}

extension String: SQLBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        var text = self
        return text.withUTF8 { bytes in
            sqlite3_bind_text(statement, index, UnsafeRawPointer(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!)
                .assumingMemoryBound(to: CChar.self), Int32(bytes.count), transient)
        }
    }
}

extension Int: SQLBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        sqlite3_bind_int64(statement, index, Int64(self))
    }
}

extension Int64: SQLBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        sqlite3_bind_int64(statement, index, self)
    }
}

extension Bool: SQLBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        sqlite3_bind_int64(statement, index, self ? 1 : 0)
    }
}

extension Double: SQLBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        sqlite3_bind_double(statement, index, self)
    }
}

extension [UInt8]: SQLBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        withUnsafeBytes { bytes in
            // A zero-length blob must not bind as NULL: give SQLite a non-null pointer.
            sqlite3_bind_blob(statement, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, Int32(bytes.count), transient)
        }
    }
}

extension Optional: SQLBindable where Wrapped: SQLBindable {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        switch self {
        case .some(let value): return value.bind(to: statement, at: index)
        case .none: return sqlite3_bind_null(statement, index)
        }
    }
}

/// The current row of a stepped statement; valid until the next step or reset.
struct RawRow: StoreRow {
    let statement: OpaquePointer

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }
    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
    func double(_ column: Int32) -> Double { sqlite3_column_double(statement, column) }
    func bool(_ column: Int32) -> Bool { int64(column) != 0 }

    func string(_ column: Int32) -> String {
        withUTF8(column) { String(decoding: $0, as: UTF8.self) }
    }

    func withUTF8<Result>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        // The text first, then its length: the length of the text as converted.
        guard let text = sqlite3_column_text(statement, column) else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, column))))
    }

    func bytes(_ column: Int32) -> [UInt8] {
        guard let bytes = sqlite3_column_blob(statement, column) else { return [] }
        let length = Int(sqlite3_column_bytes(statement, column))
        return length > 0 ? Array(UnsafeRawBufferPointer(start: bytes, count: length)) : []
    }
}

/// `SQLiteTransaction` runs statements GRDB prepared (kept by `StatementCache`) through
/// SQLite's own API (GRDB's `GRDBSQLite` module: the library GRDB links): GRDB's
/// arguments, cursors and rows cost more per query than SQLite's own work
/// (docs/performance.md). Errors are GRDB's `DatabaseError`,
/// as GRDB throws them.
extension SQLiteTransaction {
    /// Calls `body` with the statement bound to `arguments`, and resets it after.
    private func with<T>(_ sql: StatementID, _ arguments: [any SQLBindable], _ body: (OpaquePointer) throws -> T) throws -> T {
        let statement = try statements.statement(sql, in: db)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (offset, argument) in arguments.enumerated() {
            let code = argument.bind(to: statement, at: Int32(offset + 1))
            if code != SQLITE_OK { throw error(code, statement, sql) }
        }
        return try body(statement)
    }

    private func error(_ code: Int32, _ statement: OpaquePointer, _ sql: StatementID) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(sqlite3_db_handle(statement))),
                      sql: sql.sql)
    }

    private static let row = SQLITE_ROW
    private static let done = SQLITE_DONE

    /// The first row, decoded, or `nil` when there is none.
    func first<T>(_ sql: StatementID, _ arguments: [any SQLBindable], _ decode: (RawRow) throws -> T) throws -> T? {
        try with(sql, arguments) { statement in
            let code = sqlite3_step(statement)
            if code == Self.row { return try decode(RawRow(statement: statement)) }
            if code == Self.done { return nil }
            throw error(code, statement, sql)
        }
    }

    /// Every row, decoded.
    func all<T>(_ sql: StatementID, _ arguments: [any SQLBindable], _ decode: (RawRow) throws -> T) throws -> [T] {
        var values: [T] = []
        try forEachRow(sql, arguments) { values.append(try decode($0)) }
        return values
    }

    /// Calls `body` with every row, in order.
    func forEachRow(_ sql: StatementID, _ arguments: [any SQLBindable], _ body: (RawRow) throws -> Void) throws {
        try with(sql, arguments) { statement in
            while true {
                let code = sqlite3_step(statement)
                if code == Self.row { try body(RawRow(statement: statement)); continue }
                if code == Self.done { return }
                throw error(code, statement, sql)
            }
        }
    }

    /// Runs a statement that returns no rows.
    func execute(_ sql: StatementID, _ arguments: [any SQLBindable]) throws {
        try with(sql, arguments) { statement in
            var code = sqlite3_step(statement)
            while code == Self.row { code = sqlite3_step(statement) }
            if code != Self.done { throw error(code, statement, sql) }
        }
    }
}
