import Synchronization
#if canImport(Glibc)
import Glibc
#endif

private final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Starts a detached POSIX thread: the accept loop blocks, so it must never run
/// on Swift's cooperative pool.
func startThread(_ body: @escaping @Sendable () -> Void) {
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    pthread_attr_setstacksize(&attributes, 512 * 1024)
    let result = pthread_create(&thread, &attributes, { raw in
        let box = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, context)
    pthread_attr_destroy(&attributes)
    precondition(result == 0, "pthread_create failed: \(result)")
}

/// Counts the worker threads still running.
final class Countdown: Sendable {
    private let remaining: Mutex<Int>

    init(count: Int) { remaining = Mutex(count) }

    func decrement() { remaining.withLock { $0 -= 1 } }

    /// Returns when every thread has ended, or `grace` seconds after the shutdown
    /// began if some request is still running then.
    func waitUntilZero(orShutdownPlus grace: Double, shuttingDown: () -> Bool) {
        var shutdownSeenAt: Double?
        while remaining.withLock({ $0 }) > 0 {
            if shutdownSeenAt == nil, shuttingDown() { shutdownSeenAt = monotonicSeconds() }
            if let start = shutdownSeenAt, monotonicSeconds() - start > grace { return }
            usleep(shutdownSeenAt == nil ? 100_000 : 10_000)
        }
    }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
