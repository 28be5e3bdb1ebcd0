import MusicCore
import MusicSupport
import Synchronization

/// Whether the database answers, asked at most once per `interval` whatever the
/// request rate: load balancers and monitors poll health often, and the answer
/// must not cost a database round trip each time.
///
/// Lock-free: every request thread reads it, and a mutex here was the hottest
/// spot of the health endpoint under load.
final class HealthCheck: Sendable {
    private let store: any Store
    private let intervalNanoseconds: UInt64
    /// `checkedAt << 1 | healthy`, checkedAt in monotonic nanoseconds; 0: never checked.
    private let state = Atomic<UInt64>(0)
    /// Whether the worker's request threads make progress (set once the worker
    /// loop exists; read only when a check is due, at most once per interval).
    private let liveness = Mutex<(@Sendable () -> Bool)?>(nil)

    init(store: any Store, interval: Double = 1) {
        self.store = store
        intervalNanoseconds = UInt64(interval * 1e9)
    }

    func setLiveness(_ check: @escaping @Sendable () -> Bool) {
        liveness.withLock { $0 = check }
    }

    /// The known verdict while fresh; when it is due, the one thread that claims
    /// the check pings the database while the others keep the previous verdict.
    func isHealthy(onFailure: (any Error) -> Void) -> Bool {
        let now = monotonicNanoseconds()
        let current = state.load(ordering: .acquiring)
        let checkedAt = current >> 1
        if current != 0 && now &- checkedAt < intervalNanoseconds {
            return current & 1 == 1
        }
        let claimed = (now << 1) | (current & 1)
        if current != 0 && !state.compareExchange(expected: current, desired: claimed, ordering: .acquiringAndReleasing).exchanged {
            return state.load(ordering: .acquiring) & 1 == 1
        }
        let healthy: Bool
        do {
            try store.ping()
            if let live = liveness.withLock({ $0 }), !live() { throw WorkerStalled() }
            healthy = true
        } catch {
            onFailure(error)
            healthy = false
        }
        state.store((now << 1) | (healthy ? 1 : 0), ordering: .releasing)
        return healthy
    }
}

/// Every request thread of the worker has been busy, none finishing, for longer
/// than any request takes.
struct WorkerStalled: Error, CustomStringConvertible {
    var description: String { "the worker's request threads are all busy and none has finished a request" }
}
