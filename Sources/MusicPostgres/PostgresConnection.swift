import CLibPQ
import Foundation
import MusicCore
import MusicSupport

/// A transaction's first statement found the session lost, or on a server that
/// is no usable primary (`meansNoUsablePrimary`): nothing ran, so the
/// transaction can start again on a reopened connection.
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
    /// The session's libpq connection; nil after a failed (re)connection.
    private var connection: OpaquePointer?
    private let settings: PostgresConnectionSettings
    /// The pool's remembered host and generation (a connection of its own when not pooled).
    private let shared: PoolShared
    /// The pool's generation when this session was opened: older than the
    /// pool's means another connection has found the server gone since.
    private(set) var generation: UInt64 = 0
    /// The place in the URL's host list of the host this session is on (nil: a single host).
    private var hostIndex: Int?
    private var prepared: [String: String] = [:]
    /// The BEGIN to send with the next statement.
    private var pendingBegin: String?
    /// SQL run on every new session (e.g. `SET search_path`), again after a reset.
    private let sessionSetup: String?
    /// How long a connection attempt to one host may take, in nanoseconds.
    private let connectTimeout: UInt64
    /// When the current transaction must be over (`monotonicNanoseconds`); nil: unbounded.
    var deadline: UInt64?
    /// A wait was cut short by the deadline: an answer may still be on its way,
    /// so the session cannot be trusted until it is reset.
    private var abandoned = false
    /// The server said this session is not on a usable primary (read-only,
    /// shutting down, starting up, or a connection error class 08): the
    /// session is reset before any further use.
    private var unusable = false

    /// Connects (each host within `connect_timeout`, never past `deadline`)
    /// and runs the session's setup. A host name's lookup is not bounded here
    /// (libpq resolves it inside `PQconnectStartParams`): give the hosts as
    /// addresses, `hostaddr`, or names the machine resolves locally.
    init(settings: PostgresConnectionSettings, sessionSetup: String?, deadline: UInt64?, shared: PoolShared = PoolShared()) throws {
        self.settings = settings
        self.shared = shared
        self.sessionSetup = sessionSetup
        self.connectTimeout = UInt64(settings.limits.connectTimeoutMilliseconds) * 1_000_000
        self.deadline = deadline
        // Every stored property is set: deinit runs on a throw below and closes the connection.
        try open(what: "connect to")
    }

    deinit { PQfinish(connection) }

    var isBroken: Bool { abandoned || unusable || PQstatus(connection) != CONNECTION_OK }

    /// Lost, or on a server that is no usable primary: unlike a session merely
    /// abandoned at its deadline, a sign that the pool's other sessions are too.
    var isLostOrUnusable: Bool { unusable || PQstatus(connection) != CONNECTION_OK }

    /// Reconnects after a lost, abandoned or unusable session, or one of an older
    /// generation: a new session, found as a first connection is (the host search
    /// again); prepared statements died with the old one.
    func reset() throws {
        try open(what: "reconnect to")
    }

    private func open(what: String) throws {
        // A session abandoned at its deadline says only that the server was slow.
        // Whether it is gone shows now: back on the same host, the pool is left
        // alone; elsewhere, or nowhere, its other sessions are likely on the same
        // dead or demoted server, and the next generation starts. (Bumping on
        // every abandonment would reset the whole pool after each slow statement,
        // reconnecting most when the server is most loaded.)
        let wasAbandoned = abandoned, previousHost = hostIndex, previousGeneration = generation
        defer {
            if wasAbandoned && (connection == nil || hostIndex != previousHost) {
                shared.sessionFailed(generation: previousGeneration)
                // This session, opened just now on the other host, is of the new generation.
                if connection != nil { generation = shared.generation.load(ordering: .acquiring) }
            }
        }
        PQfinish(connection)
        connection = nil
        prepared.removeAll()
        pendingBegin = nil
        abandoned = false
        unusable = false
        generation = shared.generation.load(ordering: .acquiring)
        connection = try connectToAHost(what: what)
        do {
            try setUpSession()
        } catch {
            // A session without its settings (search_path, timeouts) is not used.
            unusable = true
            throw error
        }
    }

    /// One host at a time, each its own libpq connection within `connect_timeout`
    /// (libpq moves on to the next host only in its blocking connect): the
    /// remembered host first, then the others in URL order, until one gives a
    /// session that `target_session_attrs` accepts (libpq checks that per host).
    private func connectToAHost(what: String) throws -> OpaquePointer {
        let order = settings.hostOrder(preferred: shared.preferredHost.load(ordering: .relaxed))
        var failures: [String] = []
        for index in order {
            if let deadline, monotonicNanoseconds() >= deadline, !failures.isEmpty {
                throw StoreUnavailableError(reason: "cannot \(what) PostgreSQL: " + failures.joined(separator: "; ")
                    + "; the transaction's time ran out before the other hosts were tried")
            }
            let parameters = settings.parameters(forHost: index)
            let attempt = parameters.keywords.withCStrings { keywords in
                parameters.values.withCStrings { values in PQconnectStartParams(keywords, values, 0) }
            }
            guard let attempt else { throw StoreUnavailableError(reason: "libpq could not allocate a connection") }
            // The server's notices ("relation already exists, skipping") are not errors: dropped.
            PQsetNoticeProcessor(attempt, { _, _ in }, nil)
            let host = index.map { " (\(settings.hosts[$0]))" } ?? ""
            switch finishConnecting(attempt) {
            case .connected:
                if let index { shared.preferredHost.store(index, ordering: .relaxed) }
                hostIndex = index
                return attempt
            case .failed:
                failures.append(Self.connectionMessage(attempt))
                PQfinish(attempt)
            case .timedOut(let deadlinePassed):
                PQfinish(attempt)
                failures.append("no answer\(host) within the connection's time bound")
                if deadlinePassed {
                    throw StoreUnavailableError(reason: "cannot \(what) PostgreSQL: " + failures.joined(separator: "; "))
                }
            }
        }
        throw StoreUnavailableError(reason: "cannot \(what) PostgreSQL: " + failures.joined(separator: "; "))
    }

    private enum ConnectOutcome {
        case connected
        case failed
        /// `deadlinePassed`: the transaction's time is up too, no host may be tried.
        case timedOut(deadlinePassed: Bool)
    }

    /// Drives libpq's non-blocking connection to its end, waiting on the socket
    /// as libpq asks, for at most `connect_timeout` and never past the deadline.
    private func finishConnecting(_ attempt: OpaquePointer) -> ConnectOutcome {
        let connectBound = monotonicNanoseconds() + connectTimeout
        let bound = deadline.map { min($0, connectBound) } ?? connectBound
        var status = PGRES_POLLING_WRITING
        while true {
            switch status {
            case PGRES_POLLING_OK:
                return .connected
            case PGRES_POLLING_FAILED:
                return .failed
            default:
                let events = status == PGRES_POLLING_READING ? Int16(POLLIN) : Int16(POLLOUT)
                guard Self.waitForSocket(PQsocket(attempt), events: events, until: bound) else {
                    return .timedOut(deadlinePassed: deadline.map { monotonicNanoseconds() >= $0 } ?? false)
                }
                status = PQconnectPoll(attempt)
            }
        }
    }

    /// Waits until `socket` is ready for `events`; false when `bound` passed first.
    private static func waitForSocket(_ socket: Int32, events: Int16, until bound: UInt64?) -> Bool {
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
            guard Self.waitForSocket(PQsocket(connection), events: Int16(POLLIN), until: deadline) else {
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
            try reopenable(error)
        }
    }

    /// Runs a prepared statement and decodes every row with `decode`.
    func query<T>(_ sql: String, _ parameters: [(any PostgresParameter)?], _ decode: (PostgresRow) throws -> T) throws -> [T] {
        var values: [T] = []
        try forEachRow(sql, parameters, reserve: { values.reserveCapacity($0) }) { values.append(try decode($0)) }
        return values
    }

    /// Runs a prepared statement: `reserve` with the number of rows, then `body` with each.
    func forEachRow(_ sql: String, _ parameters: [(any PostgresParameter)?], reserve: (Int) -> Void,
                    _ body: (PostgresRow) throws -> Void) throws {
        let result = try run(sql, parameters)
        defer { PQclear(result) }
        let count = PQntuples(result)
        reserve(Int(count))
        for row in 0..<count { try body(PostgresRow(result: result, row: row)) }
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
            try reopenable(error)
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

    /// For a failure of a transaction's first statement: nothing ran, so a lost
    /// session, or one on a server that is no usable primary, may be reopened and
    /// the transaction tried again (`LostBeforeFirstStatement`). One abandoned
    /// at the deadline may not: the time is up.
    private func reopenable(_ error: StoreUnavailableError) throws -> Never {
        if !abandoned && (unusable || PQstatus(connection) != CONNECTION_OK) { throw LostBeforeFirstStatement() }
        throw error
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
        if Self.meansNoUsablePrimary(sqlState), sqlState != "25006" || serverIsReadOnly {
            unusable = true
            throw StoreUnavailableError(reason: "PostgreSQL cannot serve this session (\(sqlState)): \(field(UInt8(ascii: "M")))")
        }
        if sqlState == "57014" {
            // statement_timeout (or a cancel): the database is too slow right now.
            throw StoreUnavailableError(reason: "a PostgreSQL statement ran past statement_timeout")
        }
        throw PostgresError(sqlState: sqlState, message: field(UInt8(ascii: "M")))
    }

    /// The server, not the transaction, is read-only: a standby (`in_hot_standby`)
    /// or a session whose default is read-only (a demoted or fenced primary). A
    /// primary also answers 25006 to a write inside a `READ ONLY` transaction:
    /// that is a plain error, not a reason to reopen. Servers before 14 report
    /// neither parameter: then any 25006 counts as the server's.
    private var serverIsReadOnly: Bool {
        let standby = PQparameterStatus(connection, "in_hot_standby").map { String(cString: $0) }
        let readOnly = PQparameterStatus(connection, "default_transaction_read_only").map { String(cString: $0) }
        if standby == nil && readOnly == nil { return true }
        return standby == "on" || readOnly == "on"
    }

    /// The session is not on a primary that can take writes: read_only_sql_transaction
    /// (a demoted primary, or a standby reached without `target_session_attrs`),
    /// admin_shutdown, crash_shutdown, cannot_connect_now (shutting down or
    /// starting), and class 08, connection exceptions.
    static func meansNoUsablePrimary(_ sqlState: String) -> Bool {
        ["25006", "57P01", "57P02", "57P03"].contains(sqlState) || sqlState.hasPrefix("08")
    }

    private static func connectionMessage(_ connection: OpaquePointer?) -> String {
        String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
