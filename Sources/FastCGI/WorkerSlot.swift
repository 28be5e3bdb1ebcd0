import CFastCGI
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One worker thread's `FCGX_Request`, and whether the thread is waiting in
/// `FCGX_Accept_r` (and so may be woken for a shutdown) or serving a request.
final class WorkerSlot: @unchecked Sendable {
    let request: UnsafeMutablePointer<FCGX_Request>
    private let waiting = Mutex<Bool>(false)

    init(listenFD: Int32) {
        request = .allocate(capacity: 1)
        FCGX_InitRequest(request, listenFD, 0)
    }

    deinit {
        request.deallocate()
    }

    /// Marks the thread as waiting, unless a shutdown has begun.
    func enterWaiting(unless shuttingDown: Bool) -> Bool {
        waiting.withLock { waiting in
            guard !shuttingDown else { return false }
            waiting = true
            return true
        }
    }

    func leaveWaiting() {
        waiting.withLock { $0 = false }
    }

    /// A thread waiting on a kept-alive connection blocks in `read`, which the
    /// listening socket's shutdown does not wake: shut that connection down too.
    /// A thread serving a request is left alone to finish it.
    func wakeIfWaiting() {
        waiting.withLock { waiting in
            guard waiting else { return }
            let fd = request.pointee.ipcFd
            if fd >= 0 { _ = shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }
}
