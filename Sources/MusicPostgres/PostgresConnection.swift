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

/// The connection was found lost by a transaction's first statement: nothing
/// ran, so the transaction can start again on a reopened connection.
struct LostBeforeFirstStatement: Error {}

/// One libpq connection, used by one thread at a time. Statements are prepared
/// once per connection (named `s1`, `s2`, ...) and executed by name.
///
/// A transaction's BEGIN is not sent on its own: it waits for the first
/// statement and goes with it in one pipeline (libpq's pipeline mode), which
/// saves a round trip per request; a transaction that ran nothing sends
/// neither BEGIN nor COMMIT.
final class PostgresConnection {
    private let connection: OpaquePointer
    private var prepared: [String: String] = [:]
    /// The BEGIN to send with the next statement.
    private var pendingBegin: String?
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

    /// Opens a transaction with `sql` (a BEGIN), sent with the first statement.
    func begin(_ sql: String) { pendingBegin = sql }

    /// COMMIT (durable when it returns); nothing to send when no statement ran.
    func commit() throws {
        if pendingBegin != nil {
            pendingBegin = nil
            return
        }
        try execute(simple: "COMMIT")
    }

    /// ROLLBACK, when the connection still stands and a statement ran.
    func rollback() {
        if pendingBegin != nil {
            pendingBegin = nil
            return
        }
        if !isBroken { try? execute(simple: "ROLLBACK") }
    }

    /// Runs SQL without parameters through the simple protocol (COMMIT, DDL); a
    /// pending BEGIN goes first in the same message.
    func execute(simple sql: String) throws {
        var text = sql
        let opening = pendingBegin != nil
        if let begin = pendingBegin {
            text = begin + "; " + sql
            pendingBegin = nil
        }
        let result = PQexec(connection, text)
        defer { PQclear(result) }
        do {
            try check(result)
        } catch is StoreUnavailableError where opening {
            throw LostBeforeFirstStatement()
        }
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
        let opening = pendingBegin != nil
        do {
            let name = try statementName(for: sql, parameterCount: parameters.count)
            let values: [UnsafeMutablePointer<CChar>?] = parameters.map { $0.map { strdup($0.postgresText) } }
            defer { for value in values { free(value) } }
            let result = try values.map { UnsafePointer($0) }.withUnsafeBufferPointer { buffer in
                if let begin = pendingBegin {
                    pendingBegin = nil
                    return try pipelined(begin: begin, name: name, buffer)
                }
                return PQexecPrepared(connection, name, Int32(buffer.count), buffer.baseAddress, nil, nil, 0)
            }
            do {
                try check(result)
            } catch {
                PQclear(result)
                throw error
            }
            return result!
        } catch is StoreUnavailableError where opening {
            throw LostBeforeFirstStatement()
        }
    }

    /// BEGIN and the first statement in one pipeline: one round trip.
    private func pipelined(begin: String, name: String, _ values: UnsafeBufferPointer<UnsafePointer<CChar>?>) throws -> OpaquePointer? {
        guard PQenterPipelineMode(connection) == 1 else { throw lostConnection() }
        guard PQsendQueryParams(connection, begin, 0, nil, nil, nil, nil, 0) == 1,
              PQsendQueryPrepared(connection, name, Int32(values.count), values.baseAddress, nil, nil, 0) == 1,
              PQpipelineSync(connection) == 1 else {
            throw lostConnection()
        }
        // Results come as BEGIN's, NULL, the statement's, NULL, then the sync's.
        var results: [OpaquePointer] = []
        var nullsInARow = 0
        while nullsInARow < 2 {
            guard let next = PQgetResult(connection) else {
                nullsInARow += 1
                continue
            }
            nullsInARow = 0
            if PQresultStatus(next) == PGRES_PIPELINE_SYNC {
                PQclear(next)
                break
            }
            results.append(next)
        }
        guard nullsInARow < 2, PQexitPipelineMode(connection) == 1, results.count == 2 else {
            let failure = lostConnection()
            if let first = results.first, !isBroken {
                defer { results.forEach { PQclear($0) } }
                try check(first)
            } else {
                results.forEach { PQclear($0) }
            }
            throw failure
        }
        do {
            try check(results[0])
        } catch {
            results.forEach { PQclear($0) }
            throw error
        }
        PQclear(results[0])
        return results[1]
    }

    private func lostConnection() -> StoreUnavailableError {
        StoreUnavailableError(reason: "lost the PostgreSQL connection: \(Self.connectionMessage(connection))")
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
