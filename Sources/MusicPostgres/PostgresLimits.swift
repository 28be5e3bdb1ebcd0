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
public struct PostgresLimits: Equatable, Sendable {
    /// libpq's parameters and the values used when the URL leaves them out:
    /// TCP keep-alive probes and a user timeout find a dead link while the
    /// connection is idle or has data unacknowledged (unix sockets ignore them).
    public static let libpqDefaults: [(name: String, value: String)] = [
        ("connect_timeout", "5"),        // seconds, also the bound of each (re)connection here
        ("keepalives", "1"),
        ("keepalives_idle", "10"),       // seconds idle before the first probe
        ("keepalives_interval", "3"),    // seconds between probes
        ("keepalives_count", "3"),       // unanswered probes before the link is dead
        ("tcp_user_timeout", "10000"),   // milliseconds data may stay unacknowledged
    ]

    /// `music_transaction_timeout_ms`: a transaction's whole time, from asking
    /// the pool for a connection to COMMIT, retries included.
    public var transactionTimeoutMilliseconds = 10_000
    /// `music_pool_wait_ms`: how long a thread waits for a free pooled connection.
    public var poolWaitMilliseconds = 5_000
    /// `music_statement_timeout_ms`: the server's `statement_timeout` for each
    /// session (a statement, lock waits included, cancelled after it).
    public var statementTimeoutMilliseconds = 8_000
    /// `music_idle_in_transaction_timeout_ms`: the server's
    /// `idle_in_transaction_session_timeout`: a session left inside a transaction
    /// by a client that went away is closed after it, releasing its locks.
    public var idleInTransactionTimeoutMilliseconds = 15_000
    /// libpq's `connect_timeout`, in milliseconds (from the URL or its default).
    public internal(set) var connectTimeoutMilliseconds = 5_000

    public init() {}

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

/// A database URL taken apart: libpq's parameters (with the defaults added)
/// and this store's limits.
struct PostgresConnectionSettings: Sendable {
    let keywords: [String]
    let values: [String]
    let limits: PostgresLimits

    init(url: String) throws {
        var limits = PostgresLimits()
        let libpqText = try Self.removingLimits(from: url) { name, value in
            guard let entry = PostgresLimits.names.first(where: { $0.name == name }) else {
                throw StoreUnavailableError(reason: "unknown database URL parameter \(name)")
            }
            guard let number = Int(value), number > 0 else {
                throw StoreUnavailableError(reason: "\(name) must be a positive number of milliseconds")
            }
            limits[keyPath: entry.key] = number
        }
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(libpqText, &error) else {
            let message = error.map { String(cString: $0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "out of memory"
            if let error { PQfreemem(error) }
            throw StoreUnavailableError(reason: "invalid database URL: \(message)")
        }
        defer { PQconninfoFree(options) }
        var keywords: [String] = []
        var values: [String] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                keywords.append(String(cString: keyword))
                values.append(String(cString: value))
            }
            option += 1
        }
        for (name, value) in PostgresLimits.libpqDefaults where !keywords.contains(name) {
            keywords.append(name)
            values.append(value)
        }
        if let index = keywords.firstIndex(of: "connect_timeout"), let seconds = Int(values[index]), seconds > 0 {
            // libpq's rule: below 2 seconds counts as 2.
            limits.connectTimeoutMilliseconds = max(2, seconds) * 1000
        }
        self.keywords = keywords
        self.values = values
        self.limits = limits
    }

    /// The URL without its `music_` parameters, each handed to `take`.
    static func removingLimits(from url: String, _ take: (String, String) throws -> Void) throws -> String {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            guard let mark = url.firstIndex(of: "?") else { return url }
            var kept: [Substring] = []
            for item in url[url.index(after: mark)...].split(separator: "&") {
                if item.hasPrefix("music_") {
                    let parts = item.split(separator: "=", maxSplits: 1)
                    try take(String(parts[0]), parts.count > 1 ? String(parts[1]).removingPercentEncoding ?? "" : "")
                } else {
                    kept.append(item)
                }
            }
            return String(url[..<mark]) + (kept.isEmpty ? "" : "?" + kept.joined(separator: "&"))
        }
        // `key=value` pairs separated by spaces; a value may be quoted ('...', with \ escapes).
        var kept = ""
        var index = url.startIndex
        while index < url.endIndex {
            while index < url.endIndex, url[index].isWhitespace { index = url.index(after: index) }
            let start = index
            var quoted = false
            while index < url.endIndex, quoted || !url[index].isWhitespace {
                if url[index] == "\\", quoted { index = url.index(after: index) }
                else if url[index] == "'" { quoted.toggle() }
                if index < url.endIndex { index = url.index(after: index) }
            }
            let pair = url[start..<index]
            guard !pair.isEmpty else { continue }
            if pair.hasPrefix("music_") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                try take(String(parts[0]).trimmingCharacters(in: .whitespaces),
                         parts.count > 1 ? String(parts[1]).trimmingCharacters(in: CharacterSet(charactersIn: "' ")) : "")
            } else {
                kept += (kept.isEmpty ? "" : " ") + pair
            }
        }
        return kept
    }
}

/// The monotonic clock, in nanoseconds: deadlines ignore changes of the wall clock.
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// A transaction's time ran out: its connection was abandoned (when a wait was
/// cut short) or never used. The store answers `StoreUnavailableError`.
struct DeadlineExceeded: Error {
    let waitingFor: String
}
