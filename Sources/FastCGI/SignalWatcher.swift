#if canImport(Glibc)
import Glibc
#endif

/// Turns SIGTERM and SIGINT into a call, on a dedicated thread.
///
/// libfcgi's own handlers only set a flag, and threads blocked in `accept`
/// never see it. The signals are blocked in every thread (call `install`
/// before starting any) and taken with `sigwait` on one thread of their own.
public enum SignalWatcher {
    public static func install(onTerminate: @escaping @Sendable (Int32) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let watched = set
        startThread {
            var set = watched
            var signal: Int32 = 0
            while sigwait(&set, &signal) == 0 {
                onTerminate(signal)
            }
        }
    }
}
