import CLibPQ
import Foundation
import MusicCore
import MusicSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What the connections of one pool share.
final class PoolShared: Sendable {
    /// The host (its place in the URL's list) that last gave a session: a
    /// (re)connection tries it first, so once one connection has found the new
    /// primary the others go straight to it (those searching at the same time
    /// may each pay `connect_timeout` for a silent old one).
    let preferredHost = Atomic<Int>(0)
    /// Moves on when a session of the pool fails at the connection level (lost,
    /// on a server that is no usable primary, or abandoned at its deadline and
    /// then not reopened on the same host): a
    /// session opened under an older generation likely points at the same dead
    /// or demoted server and is reset before its next use, so a failover costs
    /// the idle connections a reconnection each, not a failed request each.
    let generation = Atomic<UInt64>(0)

    /// `connection`'s session failed: the first such failure of a generation
    /// starts the next (later ones, on sessions of the older generation, do not
    /// reset the fresh sessions again).
    func sessionFailed(_ connection: PostgresConnection) {
        sessionFailed(generation: connection.generation)
    }

    /// A session opened under `generation` failed.
    func sessionFailed(generation opened: UInt64) {
        _ = generation.compareExchange(expected: opened, desired: opened &+ 1, ordering: .acquiringAndReleasing)
    }

    /// Opened before the last connection-level failure of the pool.
    func isStale(_ connection: PostgresConnection) -> Bool {
        connection.generation != generation.load(ordering: .acquiring)
    }
}

/// A fixed number of connections, opened on first use, handed to one thread at a time.
final class ConnectionPool: @unchecked Sendable {
    private let settings: PostgresConnectionSettings
    private let sessionSetup: String?
    private let size: Int
    private var idle: [PostgresConnection] = []
    private var opened = 0
    private var mutex = pthread_mutex_t()
    private var available = pthread_cond_t()
    private let metrics: PostgresMetrics
    let shared = PoolShared()

    init(settings: PostgresConnectionSettings, sessionSetup: String?, size: Int, metrics: PostgresMetrics) {
        self.settings = settings
        self.sessionSetup = sessionSetup
        self.size = size
        self.metrics = metrics
        metrics.connections.record(size)
        metrics.inUse.record(0)
        pthread_mutex_init(&mutex, nil)
        // Timed waits on the monotonic clock, as every deadline here.
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(&available, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(&available)
        pthread_mutex_destroy(&mutex)
    }

    /// A connection, waiting for one to be free until `bound` at most; a new
    /// one connects within `deadline` (the transaction's).
    func checkout(until bound: UInt64, deadline: UInt64) throws -> PostgresConnection {
        pthread_mutex_lock(&mutex)
        var wake = timespec(tv_sec: Int(bound / 1_000_000_000), tv_nsec: Int(bound % 1_000_000_000))
        var waitStarted: UInt64?
        if idle.isEmpty && opened >= size {
            metrics.waits.increment()
            waitStarted = monotonicNanoseconds()
        }
        while idle.isEmpty && opened >= size {
            if pthread_cond_timedwait(&available, &mutex, &wake) == ETIMEDOUT, idle.isEmpty && opened >= size {
                pthread_mutex_unlock(&mutex)
                recordWait(since: waitStarted)
                throw StoreUnavailableError(reason: "no PostgreSQL connection of the pool's \(size) came free in time")
            }
        }
        if let connection = idle.popLast() {
            metrics.inUse.record(opened - idle.count)
            pthread_mutex_unlock(&mutex)
            recordWait(since: waitStarted)
            return connection
        }
        opened += 1
        metrics.inUse.record(opened - idle.count)
        pthread_mutex_unlock(&mutex)
        recordWait(since: waitStarted)
        do {
            return try PostgresConnection(settings: settings, sessionSetup: sessionSetup, deadline: deadline, shared: shared)
        } catch {
            pthread_mutex_lock(&mutex)
            opened -= 1
            metrics.inUse.record(opened - idle.count)
            pthread_cond_signal(&available)
            pthread_mutex_unlock(&mutex)
            throw error
        }
    }

    func checkin(_ connection: PostgresConnection) {
        pthread_mutex_lock(&mutex)
        idle.append(connection)
        metrics.inUse.record(opened - idle.count)
        pthread_cond_signal(&available)
        pthread_mutex_unlock(&mutex)
    }

    private func recordWait(since started: UInt64?) {
        guard let started else { return }
        metrics.wait.recordNanoseconds(Int64(truncatingIfNeeded: monotonicNanoseconds() &- started))
    }
}
