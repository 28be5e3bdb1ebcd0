import CSQLiteTuning
import GRDB
import MusicCore

/// A value bound to a statement parameter.
protocol SQLBindable {
    /// Binds the value to parameter `index` (1-based); an SQLite result code.
    func bind(to statement: UnsafeMutableRawPointer, at index: Int32) -> Int32
}

extension String: SQLBindable {
    func bind(to statement: UnsafeMutableRawPointer, at index: Int32) -> Int32 {
        var text = self
        return text.withUTF8 { bytes in
            music_sqlite_bind_text(statement, index, UnsafeRawPointer(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!)
                .assumingMemoryBound(to: CChar.self), Int32(bytes.count))
        }
    }
}

extension Int: SQLBindable {
    func bind(to statement: UnsafeMutableRawPointer, at index: Int32) -> Int32 {
        music_sqlite_bind_int64(statement, index, Int64(self))
    }
}

extension Int64: SQLBindable {
    func bind(to statement: UnsafeMutableRawPointer, at index: Int32) -> Int32 {
        music_sqlite_bind_int64(statement, index, self)
    }
}

extension Bool: SQLBindable {
    func bind(to statement: UnsafeMutableRawPointer, at index: Int32) -> Int32 {
        music_sqlite_bind_int64(statement, index, self ? 1 : 0)
    }
}

extension Double: SQLBindable {
    func bind(to statement: UnsafeMutableRawPointer, at index: Int32) -> Int32 {
        music_sqlite_bind_double(statement, index, self)
    }
}

extension [UInt8]: SQLBindable {
    func bind(to statement: UnsafeMutableRawPointer, at index: Int32) -> Int32 {
        withUnsafeBytes { bytes in
            // A zero-length blob must not bind as NULL: give SQLite a non-null pointer.
            music_sqlite_bind_blob(statement, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, Int32(bytes.count))
        }
    }
}

extension Optional: SQLBindable where Wrapped: SQLBindable {
    func bind(to statement: UnsafeMutableRawPointer, at index: Int32) -> Int32 {
        switch self {
        case .some(let value): return value.bind(to: statement, at: index)
        case .none: return music_sqlite_bind_null(statement, index)
        }
    }
}

/// The current row of a stepped statement; valid until the next step or reset.
struct RawRow {
    let statement: UnsafeMutableRawPointer

    func isNull(_ column: Int32) -> Bool { music_sqlite_column_is_null(statement, column) != 0 }
    func int64(_ column: Int32) -> Int64 { music_sqlite_column_int64(statement, column) }
    func int(_ column: Int32) -> Int { Int(int64(column)) }
    func bool(_ column: Int32) -> Bool { int64(column) != 0 }
    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }
    func optionalDouble(_ column: Int32) -> Double? { isNull(column) ? nil : music_sqlite_column_double(statement, column) }

    func string(_ column: Int32) -> String {
        var length: Int32 = 0
        guard let text = music_sqlite_column_text(statement, column, &length) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: text, count: Int(length)), as: UTF8.self)
    }

    func optionalString(_ column: Int32) -> String? { isNull(column) ? nil : string(column) }

    func bytes(_ column: Int32) -> [UInt8] {
        var length: Int32 = 0
        guard let bytes = music_sqlite_column_blob(statement, column, &length), length > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: Int(length)))
    }

    func timestamp(_ column: Int32) -> Timestamp { Timestamp(secondsSince1970: int64(column)) }
    func optionalTimestamp(_ column: Int32) -> Timestamp? { optionalInt64(column).map(Timestamp.init(secondsSince1970:)) }
}

/// `SQLiteTransaction` runs statements GRDB prepared (kept by `StatementCache`) through
/// SQLite's own API: GRDB's arguments, cursors and rows cost more instructions
/// per query than SQLite's work (callgrind, add-track: 9,000 to 12,000 per query
/// in GRDB against 4,000 to 8,000 in SQLite). Errors are GRDB's `DatabaseError`,
/// as GRDB throws them.
extension SQLiteTransaction {
    /// Calls `body` with the statement bound to `arguments`, and resets it after.
    private func with<T>(_ sql: String, _ arguments: [any SQLBindable], _ body: (UnsafeMutableRawPointer) throws -> T) throws -> T {
        let statement = try statements.statement(sql, in: db)
        defer { music_sqlite_reset(statement) }
        for (offset, argument) in arguments.enumerated() {
            let code = argument.bind(to: statement, at: Int32(offset + 1))
            if code != 0 { throw error(code, statement, sql) }
        }
        return try body(statement)
    }

    private func error(_ code: Int32, _ statement: UnsafeMutableRawPointer, _ sql: String) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: music_sqlite_error_message(statement)), sql: sql)
    }

    private static let row: Int32 = 100
    private static let done: Int32 = 101

    /// The first row, decoded, or `nil` when there is none.
    func first<T>(_ sql: String, _ arguments: [any SQLBindable], _ decode: (RawRow) throws -> T) throws -> T? {
        try with(sql, arguments) { statement in
            let code = music_sqlite_step(statement)
            if code == Self.row { return try decode(RawRow(statement: statement)) }
            if code == Self.done { return nil }
            throw error(code, statement, sql)
        }
    }

    /// Every row, decoded.
    func all<T>(_ sql: String, _ arguments: [any SQLBindable], _ decode: (RawRow) throws -> T) throws -> [T] {
        try with(sql, arguments) { statement in
            var values: [T] = []
            while true {
                let code = music_sqlite_step(statement)
                if code == Self.row { values.append(try decode(RawRow(statement: statement))); continue }
                if code == Self.done { return values }
                throw error(code, statement, sql)
            }
        }
    }

    /// Runs a statement that returns no rows.
    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws {
        try with(sql, arguments) { statement in
            var code = music_sqlite_step(statement)
            while code == Self.row { code = music_sqlite_step(statement) }
            if code != Self.done { throw error(code, statement, sql) }
        }
    }
}
