import CLibPQ
import Foundation
import MusicCore
#if canImport(Glibc)
import Glibc
#endif

/// Every wait of the PostgreSQL store, bounded, so that a request whose
/// database is slow, overloaded or silently unreachable ends in a 503 envelope
/// (`StoreUnavailableError`) before nginx gives up on the worker
/// (`fastcgi_read_timeout 30s` in nginx/music-fastcgi.conf). The API runs each
/// request in one transaction, so `transactionTimeout` bounds a request's
/// whole database time: the pool wait, connecting, every round trip and every
/// retry.
///
/// All are set in the database URL as query parameters (`postgres://...?music_statement_timeout_ms=2000`,
/// or `music_statement_timeout_ms=2000` in a `key=value` string). The `music_`
/// ones are read here and removed; libpq's own (`connect_timeout`, `keepalives*`,
/// `tcp_user_timeout`) get the defaults below when the URL does not set them.
package struct PostgresLimits: Equatable, Sendable {
    /// libpq's parameters and the values used when the URL leaves them out:
    /// TCP keep-alive probes and a user timeout find a dead link while the
    /// connection is idle or has data unacknowledged (unix sockets ignore them).
    package static let libpqDefaults: [(name: String, value: String)] = [
        ("connect_timeout", "5"),        // seconds, the bound of each connection attempt to one host
        ("keepalives", "1"),
        ("keepalives_idle", "10"),       // seconds idle before the first probe
        ("keepalives_interval", "3"),    // seconds between probes
        ("keepalives_count", "3"),       // unanswered probes before the link is dead
        ("tcp_user_timeout", "10000"),   // milliseconds data may stay unacknowledged
    ]

    /// `music_transaction_timeout_ms`: a transaction's whole time, from asking
    /// the pool for a connection to COMMIT, retries included.
    package var transactionTimeoutMilliseconds = 10_000
    /// `music_pool_wait_ms`: how long a thread waits for a free pooled connection.
    package var poolWaitMilliseconds = 5_000
    /// `music_statement_timeout_ms`: the server's `statement_timeout` for each
    /// session (a statement, lock waits included, cancelled after it).
    package var statementTimeoutMilliseconds = 8_000
    /// `music_idle_in_transaction_timeout_ms`: the server's
    /// `idle_in_transaction_session_timeout`: a session left inside a transaction
    /// by a client that went away is closed after it, releasing its locks.
    package var idleInTransactionTimeoutMilliseconds = 15_000
    /// libpq's `connect_timeout`, in milliseconds (from the URL or its default).
    package internal(set) var connectTimeoutMilliseconds = 5_000

    package init() {}

    nonisolated(unsafe) static let names: [(name: String, key: WritableKeyPath<PostgresLimits, Int>)] = [
        ("music_transaction_timeout_ms", \.transactionTimeoutMilliseconds),
        ("music_pool_wait_ms", \.poolWaitMilliseconds),
        ("music_statement_timeout_ms", \.statementTimeoutMilliseconds),
        ("music_idle_in_transaction_timeout_ms", \.idleInTransactionTimeoutMilliseconds),
    ]

    /// SQL run at the start of every session.
    var sessionSettings: String {
        "SET statement_timeout = \(statementTimeoutMilliseconds); "
            + "SET idle_in_transaction_session_timeout = \(idleInTransactionTimeoutMilliseconds)"
    }
}

/// A transaction's time ran out: its connection was abandoned (when a wait was
/// cut short) or never used. The store answers `StoreUnavailableError`.
struct DeadlineExceeded: Error {
    let waitingFor: String
}
