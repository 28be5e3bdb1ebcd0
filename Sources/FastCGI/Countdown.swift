import MusicSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Counts the worker threads still running.
final class Countdown: Sendable {
    private let remaining: Mutex<Int>

    init(count: Int) { remaining = Mutex(count) }

    func decrement() { remaining.withLock { $0 -= 1 } }

    /// Returns when every thread has ended (true), or `grace` seconds after the
    /// shutdown began if some request is still running then (false).
    @discardableResult
    func waitUntilZero(orShutdownPlus grace: Double, shuttingDown: () -> Bool) -> Bool {
        var shutdownSeenAt: Double?
        while remaining.withLock({ $0 }) > 0 {
            if shutdownSeenAt == nil, shuttingDown() { shutdownSeenAt = monotonicSeconds() }
            if let start = shutdownSeenAt, monotonicSeconds() - start > grace { return false }
            usleep(shutdownSeenAt == nil ? 100_000 : 10_000)
        }
        return true
    }
}
