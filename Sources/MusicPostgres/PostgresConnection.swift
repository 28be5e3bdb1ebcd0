import CLibPQ
import Foundation
import MusicCore
import MusicSupport

/// The connection was found lost by a transaction's first statement: nothing
/// ran, so the transaction can start again on a reopened connection.
struct LostBeforeFirstStatement: Error {}

extension Array where Element == String {
    /// The strings as a NULL-terminated C array, for libpq's keyword/value calls.
    func withCStrings<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let copies = map { UnsafePointer(strdup($0)) } + [nil]
        defer { for copy in copies { free(UnsafeMutablePointer(mutating: copy)) } }
        return copies.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

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
    /// How long a (re)connection may take, in nanoseconds.
    private let connectTimeout: UInt64
    /// When the current transaction must be over (`monotonicNanoseconds`); nil: unbounded.
    var deadline: UInt64?
    /// A wait was cut short by the deadline: an answer may still be on its way,
    /// so the session cannot be trusted until it is reset.
    private var abandoned = false

    /// Connects (waiting at most `connect_timeout`, and never past `deadline`)
    /// and runs the session's setup.
    init(settings: PostgresConnectionSettings, sessionSetup: String?, deadline: UInt64?) throws {
        let connection = settings.keywords.withCStrings { keywords in
            settings.values.withCStrings { values in PQconnectStartParams(keywords, values, 0) }
        }
        guard let connection else { throw StoreUnavailableError(reason: "libpq could not allocate a connection") }
        self.connection = connection
        self.sessionSetup = sessionSetup
        self.connectTimeout = UInt64(settings.limits.connectTimeoutMilliseconds) * 1_000_000
        self.deadline = deadline
        // The server's notices ("relation already exists, skipping") are not errors: dropped.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        // Every stored property is set: deinit runs on a throw below and closes the connection.
        try finishConnecting(PQconnectPoll, what: "connect to")
        try setUpSession()
    }

    deinit { PQfinish(connection) }

    var isBroken: Bool { abandoned || PQstatus(connection) != CONNECTION_OK }

    /// Reconnects with the same parameters after a lost (or abandoned)
    /// connection; prepared statements died with the old session.
    func reset() throws {
        prepared.removeAll()
        pendingBegin = nil
        abandoned = false
        guard PQresetStart(connection) == 1 else {
            throw StoreUnavailableError(reason: "cannot reconnect to PostgreSQL: \(Self.connectionMessage(connection))")
        }
        try finishConnecting(PQresetPoll, what: "reconnect to")
        try setUpSession()
    }

    /// Drives libpq's non-blocking connection to its end, waiting on the socket
    /// as libpq asks, for at most `connect_timeout` and never past the deadline.
    private func finishConnecting(_ step: (OpaquePointer?) -> PostgresPollingStatusType, what: String) throws {
        let connectBound = monotonicNanoseconds() + connectTimeout
        let bound = deadline.map { min($0, connectBound) } ?? connectBound
        var status = PGRES_POLLING_WRITING
        while true {
            switch status {
            case PGRES_POLLING_OK:
                return
            case PGRES_POLLING_FAILED:
                throw StoreUnavailableError(reason: "cannot \(what) PostgreSQL: \(Self.connectionMessage(connection))")
            default:
                let events = status == PGRES_POLLING_READING ? Int16(POLLIN) : Int16(POLLOUT)
                guard try waitForSocket(events: events, until: bound) else {
                    abandoned = true
                    throw StoreUnavailableError(reason: "cannot \(what) PostgreSQL: no answer within the connection's time bound")
                }
                status = step(connection)
            }
        }
    }

    /// Waits until the socket is ready for `events`; false when `bound` passed first.
    private func waitForSocket(events: Int16, until bound: UInt64?) throws -> Bool {
        let socket = PQsocket(connection)
        guard socket >= 0 else { return true } // libpq reports the failure on the next call
        while true {
            var timeout: Int32 = -1
            if let bound {
                let now = monotonicNanoseconds()
                guard now < bound else { return false }
                timeout = Int32(min((bound - now + 999_999) / 1_000_000, UInt64(Int32.max)))
            }
            var descriptor = pollfd(fd: socket, events: events, revents: 0)
            let ready = poll(&descriptor, 1, timeout)
            if ready > 0 { return true }
            if ready == 0 { continue } // the loop finds the bound passed
            if errno != EINTR { return true }
        }
    }

    /// Refuses to start a round trip once the transaction's time is up.
    private func checkDeadline(_ what: String) throws {
        if let deadline, monotonicNanoseconds() >= deadline { throw DeadlineExceeded(waitingFor: what) }
    }

    /// Waits (never past the deadline) until the next result can be read
    /// without blocking. A wait cut short abandons the connection.
    private func awaitResult() throws {
        while PQisBusy(connection) == 1 {
            guard try waitForSocket(events: Int16(POLLIN), until: deadline) else {
                abandoned = true
                throw DeadlineExceeded(waitingFor: "an answer from PostgreSQL")
            }
            if PQconsumeInput(connection) == 0 { return } // the connection failed: PQgetResult says so
        }
    }

    /// Every result of the query just sent, as PQexec would give it: the first
    /// failed one, else the last.
    private func collectResults() throws -> OpaquePointer? {
        var kept: OpaquePointer?
        var failed = false
        do {
            while true {
                try awaitResult()
                guard let next = PQgetResult(connection) else { break }
                if failed {
                    PQclear(next)
                    continue
                }
                if let previous = kept { PQclear(previous) }
                let status = PQresultStatus(next)
                kept = next
                failed = status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK
            }
        } catch {
            if let kept { PQclear(kept) }
            throw error
        }
        return kept
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

    /// ROLLBACK, when the connection still stands and a statement ran. It gets
    /// a second of its own (the transaction's time may be up); a connection
    /// that cannot roll back is reset before its next use.
    func rollback() {
        if pendingBegin != nil {
            pendingBegin = nil
            return
        }
        guard !isBroken else { return }
        let saved = deadline
        deadline = monotonicNanoseconds() + 1_000_000_000
        defer { deadline = saved }
        do { try execute(simple: "ROLLBACK") } catch { abandoned = true }
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
        try checkDeadline("a statement")
        let result = PQsendQuery(connection, text) == 1 ? try collectResults() : nil
        defer { PQclear(result) }
        do {
            try check(result)
        } catch let error as StoreUnavailableError where opening {
            // Only a lost connection may be reopened and tried again: nothing ran.
            if abandoned || PQstatus(connection) == CONNECTION_OK { throw error }
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
        try checkDeadline("a statement")
        do {
            let name = try statementName(for: sql, parameterCount: parameters.count)
            let values: [UnsafeMutablePointer<CChar>?] = parameters.map { $0.map { strdup($0.postgresText) } }
            defer { for value in values { free(value) } }
            let result = try values.map { UnsafePointer($0) }.withUnsafeBufferPointer { buffer in
                if let begin = pendingBegin {
                    pendingBegin = nil
                    return try pipelined(begin: begin, name: name, buffer)
                }
                guard PQsendQueryPrepared(connection, name, Int32(buffer.count), buffer.baseAddress, nil, nil, 0) == 1 else { return nil }
                return try collectResults()
            }
            do {
                try check(result)
            } catch {
                PQclear(result)
                throw error
            }
            return result!
        } catch let error as StoreUnavailableError where opening {
            // Only a lost connection may be reopened and tried again: nothing ran.
            if abandoned || PQstatus(connection) == CONNECTION_OK { throw error }
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
            do {
                try awaitResult()
            } catch {
                results.forEach { PQclear($0) }
                throw error
            }
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
        let result = PQsendPrepare(connection, name, sql, Int32(parameterCount), nil) == 1 ? try collectResults() : nil
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
        let sqlState = field(UInt8(ascii: "C"))
        if sqlState == "57014" {
            // statement_timeout (or a cancel): the database is too slow right now.
            throw StoreUnavailableError(reason: "a PostgreSQL statement ran past statement_timeout")
        }
        throw PostgresError(sqlState: sqlState, message: field(UInt8(ascii: "M")))
    }

    private static func connectionMessage(_ connection: OpaquePointer) -> String {
        String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
