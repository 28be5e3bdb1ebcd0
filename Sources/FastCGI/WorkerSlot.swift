import CFastCGI
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One worker thread's `FCGX_Request`, and what the thread is blocked in, so that
/// a shutdown can wake it without touching the listening socket (which may be
/// systemd's or spawn-fcgi's, shared with the next worker).
final class WorkerSlot: @unchecked Sendable {
    enum State {
        /// Running, or serving a request: left alone to finish.
        case busy
        /// In `accept` on the listening socket: woken by `AcceptWakeSignal`.
        case accepting
        /// In `FCGX_Accept_r`, reading the next request of a kept-alive connection:
        /// woken by shutting that connection (ours) down.
        case waitingOnConnection
    }

    let request: UnsafeMutablePointer<FCGX_Request>
    /// The thread serving this slot, valid while `state` is `.accepting`: the
    /// thread clears that state under the lock before it can end.
    private let state = Mutex<(State, pthread_t)>((.busy, pthread_t()))

    init() {
        request = .allocate(capacity: 1)
        // No listening socket for libfcgi: the slot's thread accepts connections
        // itself and hands them over in `ipcFd`. Should libfcgi ever try to accept
        // (after a connection broke before its first request), accept(-1) fails at
        // once and the thread goes back to its own accept.
        FCGX_InitRequest(request, -1, 0)
    }

    deinit {
        request.deallocate()
    }

    /// Marks the thread as entering `accept`, unless a shutdown has begun.
    func enterAccepting(unless shuttingDown: () -> Bool) -> Bool {
        enter(.accepting, unless: shuttingDown)
    }

    /// Marks the thread as waiting on its kept-alive connection, unless a shutdown has begun.
    func enterWaitingOnConnection(unless shuttingDown: () -> Bool) -> Bool {
        enter(.waitingOnConnection, unless: shuttingDown)
    }

    private func enter(_ next: State, unless shuttingDown: () -> Bool) -> Bool {
        let thread = pthread_self()
        return state.withLock { state in
            guard !shuttingDown() else { return false }
            state = (next, thread)
            return true
        }
    }

    func leave() {
        state.withLock { $0.0 = .busy }
    }

    /// Wakes the thread if it is blocked waiting for work; returns true if it is
    /// in `accept` and must be signalled again until it has left (a signal that
    /// arrives just before the thread enters `accept` is consumed without effect).
    /// A thread serving a request is left alone to finish it.
    func wake() -> Bool {
        state.withLock { state in
            switch state.0 {
            case .busy:
                return false
            case .accepting:
                pthread_kill(state.1, AcceptWakeSignal.number)
                return true
            case .waitingOnConnection:
                // Shutting down the reading side of our own accepted connection is
                // persistent: the read returns 0 now or as soon as it starts. Only
                // that side: a request nginx already sent is still read, run and
                // must be answered (nginx retries no POST it got no answer to).
                let fd = request.pointee.ipcFd
                if fd >= 0 { _ = shutdown(fd, Int32(SHUT_RD)) }
                return false
            }
        }
    }
}
