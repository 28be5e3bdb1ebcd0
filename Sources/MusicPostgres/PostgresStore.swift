import CLibPQ
import CoreMetrics
import Foundation
import MusicCore
import MusicSupport
#if canImport(Glibc)
import Glibc
#endif

/// The `Store` on PostgreSQL through libpq, for several worker hosts sharing
/// one database.
///
/// - Connections: a small pool per process (`connections`, opened on first
///   use), each used by one thread for one transaction at a time. Statements
///   are prepared once per connection.
/// - Reads: `REPEATABLE READ, READ ONLY`: one snapshot per request.
/// - Writes: `READ COMMITTED` with row locks: a write that reads a collection
///   locks its row (`FOR UPDATE`), so concurrent changes to one collection,
///   from any host, run one after the other and each sees the last one's
///   result: one member per (collection, track), dense positions and the
///   10,000 cap hold as on SQLite. An idempotency key is locked the same way
///   (a transaction-scoped advisory lock on the caller and key) before it is
///   read, so a concurrent duplicate waits for the first and replays it.
///   Deadlocks, serialization failures and unique violations from a
///   concurrent insert roll back and run the whole transaction again.
/// - Durability: the server's `synchronous_commit` (on by default): COMMIT
///   returns after the WAL is flushed.
/// - A lost connection: the transaction in flight fails with
///   `StoreUnavailableError` (503); the connection is re-opened for the next
///   one. A connection found dead before its first statement is re-opened and
///   used at once, so an idle pool survives a database restart unnoticed.
///   A session the server says is no usable primary (read-only, shutting down,
///   starting up: see `PostgresConnection.meansNoUsablePrimary`) counts as lost.
///   The first such failure moves the pool to a new generation: its other
///   connections, opened before, are re-opened before their next use.
/// - Several hosts (`host=db1,db2,db3`, with `target_session_attrs=read-write`
///   to skip standbys): a (re)connection tries one at a time, each within
///   `connect_timeout`, the one that last gave a session first (`PoolShared`).
package final class PostgresStore: Store, @unchecked Sendable {
    private let pool: ConnectionPool
    /// The time bounds (from the URL's `music_` parameters, else the defaults).
    package let limits: PostgresLimits
    /// The transaction open on this thread, if any (an `OpenTransaction`).
    private let openTransactions = ThreadLocalReference<OpenTransaction>()
    private let metrics: PostgresMetrics
    static let maxAttempts = 8

    /// - Parameters:
    ///   - url: a libpq connection string: `postgres://user@host/db?...` or `host=... dbname=...`;
    ///     it may set the time bounds (see `PostgresLimits`).
    ///   - schema: a schema to work in (created if missing); tests give each store its own.
    ///   - connections: the pool's size for this process.
    ///   - applicationName: shown in `pg_stat_activity` (default: music-fcgi@host name).
    ///   - metrics: where the pool's metric handles come from (bootstrap the process's
    ///     factory before this, as music-fcgi does; tests pass their own).
    package init(url: String, schema: String? = nil, connections: Int = 16, applicationName: String? = nil,
                migrate: Bool = true, metrics: any MetricsFactory = MetricsSystem.factory) throws {
        // Both are spliced into SQL text: only plain characters pass.
        let plain = { (name: String, extra: String) in
            name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || extra.contains($0)) }
        }
        var application = applicationName ?? "music-fcgi@\(ProcessInfo.processInfo.hostName)"
        if !plain(application, "-.@") { application = "music-fcgi" }
        if let schema, !plain(schema, "") {
            throw StoreUnavailableError(reason: "schema names are letters, digits and _")
        }
        let settings = try PostgresConnectionSettings(url: url)
        limits = settings.limits
        var setup = "SET application_name TO '\(application)'; \(settings.limits.sessionSettings)"
        if let schema { setup += "; SET search_path TO \(schema)" }
        let metrics = PostgresMetrics(factory: metrics)
        self.metrics = metrics
        pool = ConnectionPool(settings: settings, sessionSetup: setup, size: max(1, connections), metrics: metrics)
        if let schema {
            // Once, before any session sets its search_path to it.
            // Under the migrations' lock: two CREATE SCHEMA IF NOT EXISTS at once can
            // both find it missing, and the second fails on the catalog's unique index.
            let connection = try PostgresConnection(settings: settings, sessionSetup: nil, deadline: nil, shared: pool.shared)
            try connection.execute(simple: """
                BEGIN; SELECT pg_advisory_xact_lock(\(PostgresMigrations.lockKey)); CREATE SCHEMA IF NOT EXISTS \(schema); COMMIT
                """)
        }
        if migrate { try self.migrate() }
    }

    deinit { openTransactions.delete() }

    /// When a transaction starting now must be over.
    private func deadline() -> UInt64 {
        monotonicNanoseconds() + UInt64(limits.transactionTimeoutMilliseconds) * 1_000_000
    }

    /// Applies pending migrations (under an advisory lock: hosts may start together).
    /// Migrations are not requests: no time bound (a rebuild of a large table
    /// may take minutes, and a second host waits for the first to finish).
    package func migrate() throws {
        try transaction(begin: "BEGIN", writing: true, bounded: false) { _, connection in
            try PostgresMigrations.migrate(connection)
        }
    }

    package func read<T>(_ body: (any StoreReader) throws -> T) throws -> T {
        if let open = openTransaction() { return try body(PostgresTransaction(connection: open.connection, writing: open.writing)) }
        return try transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", writing: false) { transaction, _ in
            try body(transaction)
        }
    }

    package func write<T>(_ body: (any StoreWriter) throws -> T) throws -> T {
        if let open = openTransaction() {
            guard open.writing else { throw WriteInsideReadError() }
            return try body(PostgresTransaction(connection: open.connection, writing: true))
        }
        return try transaction(begin: "BEGIN ISOLATION LEVEL READ COMMITTED", writing: true) { transaction, _ in
            try body(transaction)
        }
    }

    package func ping() throws {
        try transaction(begin: "BEGIN READ ONLY", writing: false) { _, connection in
            _ = try connection.query("SELECT 1", []) { $0.int(0) }
        }
    }

    /// Drops `schema` and everything in it (tests clean up after themselves).
    package func dropSchema(_ schema: String) throws {
        try transaction(begin: "BEGIN", writing: true) { _, connection in
            try connection.execute(simple: "DROP SCHEMA IF EXISTS \(schema) CASCADE")
        }
    }

    private final class OpenTransaction {
        let connection: PostgresConnection
        let writing: Bool
        init(connection: PostgresConnection, writing: Bool) {
            self.connection = connection
            self.writing = writing
        }
    }

    private func openTransaction() -> OpenTransaction? {
        openTransactions.value
    }

    /// Runs `body` in a transaction on a pooled connection, again from the start
    /// after a retryable failure, or on a reopened connection when the first
    /// statement found the connection dead (nothing had run). The whole of it,
    /// the pool wait included, ends within `limits.transactionTimeoutMilliseconds`.
    private func transaction<T>(begin: String, writing: Bool, bounded: Bool = true,
                                _ body: (PostgresTransaction, PostgresConnection) throws -> T) throws -> T {
        let deadline = bounded ? deadline() : UInt64.max
        let poolBound = monotonicNanoseconds() + UInt64(limits.poolWaitMilliseconds) * 1_000_000
        do {
            let connection = try pool.checkout(until: min(deadline, poolBound), deadline: deadline)
            connection.deadline = bounded ? deadline : nil
            defer {
                connection.deadline = nil
                pool.checkin(connection)
            }
            return try transaction(on: connection, begin: begin, writing: writing, body)
        } catch let exceeded as DeadlineExceeded {
            throw StoreUnavailableError(
                reason: "PostgreSQL: the transaction's \(limits.transactionTimeoutMilliseconds) ms ran out waiting for \(exceeded.waitingFor)")
        }
    }

    private func transaction<T>(on connection: PostgresConnection, begin: String, writing: Bool,
                                _ body: (PostgresTransaction, PostgresConnection) throws -> T) throws -> T {
        var attempt = 1
        var reopened = false
        while true {
            if connection.isBroken {
                metrics.reconnects.increment()
                try connection.reset()
            } else if pool.shared.isStale(connection) {
                metrics.generationResets.increment()
                try connection.reset()
            }
            connection.begin(begin)
            let open = OpenTransaction(connection: connection, writing: writing)
            // The thread-local slot does not retain it: keep it alive until the slot is cleared.
            defer { withExtendedLifetime(open) {} }
            openTransactions.set(open)
            do {
                let result = try body(PostgresTransaction(connection: connection, writing: writing), connection)
                openTransactions.set(nil)
                try connection.commit()
                return result
            } catch is LostBeforeFirstStatement where !reopened {
                openTransactions.set(nil)
                connection.rollback()
                pool.shared.sessionFailed(connection)
                reopened = true
                metrics.reconnects.increment()
                try connection.reset()
            } catch is LostBeforeFirstStatement {
                openTransactions.set(nil)
                connection.rollback()
                pool.shared.sessionFailed(connection)
                throw StoreUnavailableError(reason: "PostgreSQL: the reopened session failed too (lost, or not on a primary that takes writes)")
            } catch {
                openTransactions.set(nil)
                connection.rollback()
                if connection.isLostOrUnusable { pool.shared.sessionFailed(connection) }
                if let failure = error as? PostgresError, failure.isRetryable, attempt < Self.maxAttempts {
                    attempt += 1
                    metrics.retries.increment()
                    // A short, growing, jittered pause lets the other transaction finish.
                    usleep(UInt32.random(in: 0...UInt32(200 * attempt)))
                    continue
                }
                throw error
            }
        }
    }
}
