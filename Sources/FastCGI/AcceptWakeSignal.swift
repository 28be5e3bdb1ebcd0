import CFastCGI
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The signal that interrupts a worker thread's `accept` for a shutdown.
///
/// Its handler does nothing and is installed without `SA_RESTART`, so `accept`
/// fails with `EINTR`. Worker threads keep the signal blocked except around
/// their own `accept` call: a signal that comes late stays pending instead of
/// interrupting a `read` or `write` of a request in flight (libfcgi treats
/// `EINTR` there as a broken connection).
enum AcceptWakeSignal {
    /// SIGUSR1 is libfcgi's own (it installs a handler in `FCGX_Init`).
    static let number = SIGUSR2

    static func install() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(number, &action, nil)
    }

    static func block() { change(SIG_BLOCK) }
    static func unblock() { change(SIG_UNBLOCK) }

    private static func change(_ how: Int32) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, number)
        pthread_sigmask(how, &set, nil)
    }
}
