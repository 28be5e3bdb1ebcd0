import MusicSupport
#if canImport(Glibc)
import Glibc
#endif

/// Turns SIGTERM and SIGINT into a call, on a dedicated thread.
///
/// libfcgi's own handlers only set a flag, and threads blocked in `accept`
/// never see it. The signals are blocked in every thread and taken with
/// `sigwait` on one thread of their own. A process-directed signal goes to any
/// thread that does not block it, so `blockTerminationSignals()` must run before
/// the process starts its first thread (threads inherit the mask); `watch`
/// comes later, once there is something to stop.
package enum SignalWatcher {
    /// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts from now on.
    package static func blockTerminationSignals() {
        var set = terminationSignals
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Starts the thread that calls `onTerminate` with each SIGTERM or SIGINT.
    package static func watch(onTerminate: @escaping @Sendable (Int32) -> Void) {
        blockTerminationSignals()
        startThread(stackSize: FastCGIServer.threadStackSize) {
            var set = terminationSignals
            var signal: Int32 = 0
            while sigwait(&set, &signal) == 0 {
                onTerminate(signal)
            }
        }
    }

    private static var terminationSignals: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        return set
    }
}
