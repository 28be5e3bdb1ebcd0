import CSocketBacklog
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How a kept-alive connection waits for its next request (`fastcgi_keep_conn on`).
package enum KeptAliveConnections: String, Sendable {
    /// Parked in the worker's epoll set beside the listening socket: a thread is
    /// taken only when a request arrives, and free threads take connections in
    /// the order they became ready, new ones (accepted in batches) and kept-alive
    /// ones alike.
    case park
    /// Each holds the thread that served its last request (libfcgi's way). Under
    /// overload the kept-alive connections jump the queue: their next request is
    /// served at once while connections nginx opened meanwhile wait in the
    /// backlog for a thread to come back to accept (docs/performance.md, "Overload").
    case bind
}

/// The epoll set of `KeptAliveConnections.park`: the listening socket (one-shot:
/// one thread at a time accepts what waits in the backlog), every idle connection
/// (one-shot: one thread takes it when its next request arrives) and an eventfd
/// that wakes every waiting thread for a shutdown.
final class ConnectionPark: @unchecked Sendable {
    let epoll: Int32
    let wake: Int32
    let listening: Int32
    /// The parked connections: a shutdown closes or half-closes each (`shutdown`).
    private let parked = Mutex<Set<Int32>>([])

    init?(listening: Int32) {
        epoll = music_epoll_create()
        wake = music_eventfd()
        self.listening = listening
        guard epoll >= 0, wake >= 0, music_epoll_add_level(epoll, wake) == 0,
              music_epoll_arm_oneshot(epoll, listening, 1) == 0
        else {
            if epoll >= 0 { Glibc.close(epoll) }
            if wake >= 0 { Glibc.close(wake) }
            return nil
        }
    }

    /// Closes the set and the connections still parked (after every thread ended).
    func close() {
        let left = parked.withLock { set in defer { set.removeAll() }; return set }
        for fd in left { Glibc.close(fd) }
        Glibc.close(epoll)
        Glibc.close(wake)
    }

    var parkedCount: Int { parked.withLock { $0.count } }

    /// Waits for the next ready descriptor: a parked connection, the listening
    /// socket or the wake eventfd. Nil if interrupted.
    func waitForReady() -> Int32? {
        let fd = music_epoll_wait_one(epoll)
        return fd >= 0 ? fd : nil
    }

    /// Parks `fd` (a connection between requests). `registered`: it came from this
    /// set (its one-shot is disarmed), else it is new. False when a shutdown has
    /// begun (`shuttingDown`, read under the lock the shutdown takes): the caller
    /// closes it.
    func park(_ fd: Int32, registered: Bool, unless shuttingDown: () -> Bool) -> Bool {
        let added = parked.withLock { set -> Bool in
            guard !shuttingDown() else { return false }
            set.insert(fd)
            return true
        }
        guard added else { return false }
        if registered ? music_epoll_arm_oneshot(epoll, fd, 0) == 0 || music_epoll_arm_oneshot(epoll, fd, 1) == 0
                      : music_epoll_arm_oneshot(epoll, fd, 1) == 0 {
            return true
        }
        parked.withLock { _ = $0.remove(fd) }
        return false
    }

    /// Takes a parked connection that became ready; false if it is not parked here.
    func take(_ fd: Int32) -> Bool {
        parked.withLock { $0.remove(fd) != nil }
    }

    /// Re-arms the listening socket once the backlog has been taken in.
    func rearmListening() {
        _ = music_epoll_arm_oneshot(epoll, listening, 0)
    }

    /// For a shutdown (after `shuttingDown` is set): no more accepting; a parked
    /// connection with nothing to read is closed at once, so the web server sees
    /// its end and drops it from its cache of idle connections; one on which a
    /// request has arrived keeps it: its reading side ends, so that a thread takes
    /// it, reads and answers that request and then reads the end. Every waiting
    /// thread is woken. Returns how many were closed here.
    ///
    /// Not closing an idle one until a thread came to it (every thread may be busy
    /// for as long as a queue takes under load) left nginx sending its next request
    /// into a connection whose reading side had ended: a broken pipe, and nginx
    /// answers 502 to a POST it does not retry. What remains is the moment between
    /// the close and nginx handling the end it reads.
    func shutdown() -> Int {
        _ = music_epoll_remove(epoll, listening)
        let closed = parked.withLock { set -> Int in
            var closed = 0
            for fd in set {
                var pending = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&pending, 1, 0) == 0 {
                    // A thread given this descriptor by epoll meanwhile finds it
                    // gone from the set (`take`) and leaves it.
                    set.remove(fd)
                    _ = music_epoll_remove(epoll, fd)
                    Glibc.close(fd)
                    closed += 1
                } else {
                    _ = Glibc.shutdown(fd, Int32(SHUT_RD))
                }
            }
            return closed
        }
        _ = music_eventfd_signal(wake)
        return closed
    }
}
