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
    /// Where a parked connection stands.
    enum Parked: Sendable {
        /// Accepted, its first request on its way.
        case new
        /// It has served a request: an idle connection in the web server's cache.
        case served
        /// Ended by a shutdown: closed when taken, nothing read from it.
        case ended
    }

    /// The parked connections.
    private let parked = Mutex<[Int32: Parked]>([:])

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
        let left = parked.withLock { set in defer { set.removeAll() }; return Array(set.keys) }
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
            set[fd] = registered ? .served : .new
            return true
        }
        guard added else { return false }
        if registered ? music_epoll_arm_oneshot(epoll, fd, 0) == 0 || music_epoll_arm_oneshot(epoll, fd, 1) == 0
                      : music_epoll_arm_oneshot(epoll, fd, 1) == 0 {
            return true
        }
        parked.withLock { _ = $0.removeValue(forKey: fd) }
        return false
    }

    /// Takes a parked connection that became ready: where it stood, nil if it is
    /// not parked here. An `.ended` one is for closing, unread.
    func take(_ fd: Int32) -> Parked? {
        parked.withLock { $0.removeValue(forKey: fd) }
    }

    /// Re-arms the listening socket once the backlog has been taken in.
    func rearmListening() {
        _ = music_epoll_arm_oneshot(epoll, listening, 0)
    }

    /// For a shutdown (after `shuttingDown` is set): no more accepting; an idle
    /// connection that has served a request, with nothing to read, ends both ways
    /// at once, so the web server reads its end and drops it from its cache of
    /// idle connections, and is marked `.ended`: the thread that takes it closes
    /// it without reading, so a request that arrived in between is never run
    /// without a way to answer it (the web server gets no answer, nothing was
    /// done: a retry is safe). Any other (a request arriving, or a new connection
    /// whose first request is on its way) is left alone: a thread serves its
    /// request, and the connection closes after the answer. No descriptor is
    /// closed here, under threads that may hold its number. Every waiting thread
    /// is woken.
    ///
    /// Before, every parked connection's reading side ended here, and an idle one
    /// was closed only when a thread came to it (under load, after the queue):
    /// nginx meanwhile sent its next request into it, a broken pipe, and answers
    /// 502 to a POST it does not retry. What remains is the moment between the
    /// end and nginx reading it.
    func shutdown() {
        _ = music_epoll_remove(epoll, listening)
        parked.withLock { set in
            for (fd, state) in set where state == .served {
                var pending = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&pending, 1, 0) == 0 else { continue }
                _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
                set[fd] = .ended
            }
        }
        _ = music_eventfd_signal(wake)
    }
}
