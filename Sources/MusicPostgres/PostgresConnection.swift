import CLibPQ
import Foundation
import MusicCore

/// A value sent as a statement parameter, in PostgreSQL's text format.
protocol PostgresParameter {
    var postgresText: String { get }
}

extension String: PostgresParameter { var postgresText: String { self } }
extension Int: PostgresParameter { var postgresText: String { String(self) } }
extension Int64: PostgresParameter { var postgresText: String { String(self) } }
extension Double: PostgresParameter { var postgresText: String { "\(self)" } }
extension Bool: PostgresParameter { var postgresText: String { self ? "true" : "false" } }
extension Timestamp: PostgresParameter { var postgresText: String { String(secondsSince1970) } }

/// Bytes for a `bytea` column (hex text format).
struct PostgresBytes: PostgresParameter {
    let bytes: [UInt8]
    var postgresText: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = Array(#"\x"#.utf8)
        text.reserveCapacity(2 + bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// A `text[]` parameter: every element quoted, so any string is carried verbatim.
struct PostgresTextArray: PostgresParameter {
    let elements: [String]
    var postgresText: String {
        var text = "{"
        for (index, element) in elements.enumerated() {
            if index > 0 { text += "," }
            text += "\""
            for character in element {
                if character == "\"" || character == "\\" { text += "\\" }
                text.append(character)
            }
            text += "\""
        }
        return text + "}"
    }
}

/// An error the server (or the connection) reported.
struct PostgresError: Error, CustomStringConvertible {
    /// The SQLSTATE code (`40001`, `23505`, ...); empty when the connection failed.
    let sqlState: String
    /// The primary message only: never DETAIL, which can quote row values.
    let message: String

    var description: String { sqlState.isEmpty ? message : "\(sqlState): \(message)" }

    /// A failure a fresh attempt of the same transaction can get past:
    /// serialization failure, deadlock, and a unique violation by a concurrent
    /// insert of the same key (the retry reads the committed row instead).
    var isRetryable: Bool { ["40001", "40P01", "23505"].contains(sqlState) }
}

/// One row of a result, read in place (text format).
struct PostgresRow {
    let result: OpaquePointer
    let row: Int32

    func isNull(_ column: Int32) -> Bool { PQgetisnull(result, row, column) == 1 }

    func string(_ column: Int32) -> String {
        let length = Int(PQgetlength(result, row, column))
        return PQgetvalue(result, row, column).withMemoryRebound(to: UInt8.self, capacity: length) { pointer in
            String(decoding: UnsafeBufferPointer(start: pointer, count: length), as: UTF8.self)
        }
    }

    func optionalString(_ column: Int32) -> String? { isNull(column) ? nil : string(column) }

    func int64(_ column: Int32) -> Int64 { strtoll(PQgetvalue(result, row, column), nil, 10) }
    func int(_ column: Int32) -> Int { Int(int64(column)) }
    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }
    func timestamp(_ column: Int32) -> Timestamp { Timestamp(secondsSince1970: int64(column)) }
    func optionalTimestamp(_ column: Int32) -> Timestamp? { optionalInt64(column).map(Timestamp.init(secondsSince1970:)) }
    func optionalDouble(_ column: Int32) -> Double? { isNull(column) ? nil : strtod(PQgetvalue(result, row, column), nil) }
    func bool(_ column: Int32) -> Bool { PQgetvalue(result, row, column).pointee == CChar(UInt8(ascii: "t")) }

    /// A `bytea` column in hex text format (`\x4142...`).
    func bytes(_ column: Int32) -> [UInt8] {
        let length = Int(PQgetlength(result, row, column))
        return PQgetvalue(result, row, column).withMemoryRebound(to: UInt8.self, capacity: length) { pointer in
            guard length >= 2 else { return [] }
            func nibble(_ c: UInt8) -> UInt8 { c <= UInt8(ascii: "9") ? c &- UInt8(ascii: "0") : (c | 0x20) &- UInt8(ascii: "a") &+ 10 }
            var bytes: [UInt8] = []
            bytes.reserveCapacity((length - 2) / 2)
            var index = 2
            while index + 1 < length {
                bytes.append(nibble(pointer[index]) << 4 | nibble(pointer[index + 1]))
                index += 2
            }
            return bytes
        }
    }
}

/// One libpq connection, used by one thread at a time. Statements are prepared
/// once per connection (named `s1`, `s2`, ...) and executed by name.
final class PostgresConnection {
    private let connection: OpaquePointer
    private var prepared: [String: String] = [:]
    /// SQL run on every new session (e.g. `SET search_path`), again after a reset.
    private let sessionSetup: String?

    init(conninfo: String, sessionSetup: String?) throws {
        guard let connection = PQconnectdb(conninfo) else { throw StoreUnavailableError(reason: "libpq could not allocate a connection") }
        self.connection = connection
        self.sessionSetup = sessionSetup
        // The server's notices ("relation already exists, skipping") are not errors: dropped.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        guard PQstatus(connection) == CONNECTION_OK else {
            // Every stored property is set: deinit runs on this throw and closes the connection.
            let message = Self.connectionMessage(connection)
            throw StoreUnavailableError(reason: "cannot connect to PostgreSQL: \(message)")
        }
        try setUpSession()
    }

    deinit { PQfinish(connection) }

    var isBroken: Bool { PQstatus(connection) != CONNECTION_OK }

    /// Reconnects with the same parameters after a lost connection; prepared
    /// statements died with the old session.
    func reset() throws {
        PQreset(connection)
        prepared.removeAll()
        guard PQstatus(connection) == CONNECTION_OK else {
            throw StoreUnavailableError(reason: "cannot reconnect to PostgreSQL: \(Self.connectionMessage(connection))")
        }
        try setUpSession()
    }

    private func setUpSession() throws {
        if let sessionSetup { try execute(simple: sessionSetup) }
    }

    /// Runs SQL without parameters through the simple protocol (BEGIN, COMMIT, DDL).
    func execute(simple sql: String) throws {
        let result = PQexec(connection, sql)
        defer { PQclear(result) }
        try check(result)
    }

    /// Runs a prepared statement and decodes every row with `decode`.
    func query<T>(_ sql: String, _ parameters: [(any PostgresParameter)?], _ decode: (PostgresRow) throws -> T) throws -> [T] {
        let result = try run(sql, parameters)
        defer { PQclear(result) }
        let count = PQntuples(result)
        var values: [T] = []
        values.reserveCapacity(Int(count))
        for row in 0..<count { values.append(try decode(PostgresRow(result: result, row: row))) }
        return values
    }

    /// Runs a prepared statement for its effect; returns the number of rows it changed.
    @discardableResult
    func execute(_ sql: String, _ parameters: [(any PostgresParameter)?]) throws -> Int {
        let result = try run(sql, parameters)
        defer { PQclear(result) }
        return Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    private func run(_ sql: String, _ parameters: [(any PostgresParameter)?]) throws -> OpaquePointer {
        let name = try statementName(for: sql, parameterCount: parameters.count)
        let values: [UnsafeMutablePointer<CChar>?] = parameters.map { $0.map { strdup($0.postgresText) } }
        defer { for value in values { free(value) } }
        let result = values.map { UnsafePointer($0) }.withUnsafeBufferPointer { buffer in
            PQexecPrepared(connection, name, Int32(buffer.count), buffer.baseAddress, nil, nil, 0)
        }
        do {
            try check(result)
        } catch {
            PQclear(result)
            throw error
        }
        return result!
    }

    private func statementName(for sql: String, parameterCount: Int) throws -> String {
        if let name = prepared[sql] { return name }
        let name = "s\(prepared.count + 1)"
        let result = PQprepare(connection, name, sql, Int32(parameterCount), nil)
        defer { PQclear(result) }
        try check(result)
        prepared[sql] = name
        return name
    }

    /// Throws for a failed result: `StoreUnavailableError` when the connection
    /// is gone, `PostgresError` with the SQLSTATE otherwise.
    private func check(_ result: OpaquePointer?) throws {
        let status = result.map(PQresultStatus) ?? PGRES_FATAL_ERROR
        if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK { return }
        if PQstatus(connection) != CONNECTION_OK {
            throw StoreUnavailableError(reason: "lost the PostgreSQL connection: \(Self.connectionMessage(connection))")
        }
        let field = { (code: UInt8) -> String in
            result.flatMap { PQresultErrorField($0, Int32(code)) }.map { String(cString: $0) } ?? ""
        }
        throw PostgresError(sqlState: field(UInt8(ascii: "C")), message: field(UInt8(ascii: "M")))
    }

    private static func connectionMessage(_ connection: OpaquePointer) -> String {
        String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
