import CFastCGI
import CSocketBacklog
import CoreMetrics
import HTTPTypes
import Logging
import MusicSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The worker loop: `threads` blocking threads, each owning one `FCGX_Request`.
///
/// Each thread accepts connections itself and hands them to libfcgi in
/// `ipcFd`; `FCGX_Accept_r` then reads the request from that connection. libfcgi
/// wakes a thread blocked in its own `accept` only if someone shuts the
/// listening socket down, and that socket may not be ours to touch: systemd and
/// spawn-fcgi hand over a socket the next worker serves, and after `shutdown()`
/// systemd fails the socket unit. Our own `accept` is interrupted by a signal
/// instead (`AcceptWakeSignal`), and the listening socket is left as it was.
///
/// Kept-alive connections (nginx's `fastcgi_keep_conn on`) are parked between
/// requests (`KeptAliveConnections.park`, the default): the threads wait on one
/// epoll set holding the listening socket and the idle connections, and a free
/// thread takes whichever became ready first, so a kept-alive connection's next
/// request does not jump ahead of connections waiting in the backlog. With
/// `.bind` (libfcgi's way) each kept-alive connection binds one thread while
/// idle, so `threads` must exceed the upstream connections nginx keeps
/// (`keepalive` x nginx worker processes), with room for the requests in flight.
package final class FastCGIServer: Sendable {
    /// The stack of each thread this module starts: a request's work is shallow,
    /// and 64 threads with glibc's default 8 MiB would reserve half a GiB.
    static let threadStackSize = 512 * 1024

    package struct Configuration: Sendable {
        package var socket: ListeningSocket
        package var threads: Int
        /// Largest body read into memory; a larger declared body is answered
        /// through `FastCGIResponder.respondToOversizedBody` without reading it.
        package var maxBodyBytes: Int
        /// For a socket the worker opens itself (--socket, --listen): as deploy/lib.sh's
        /// WORKER_BACKLOG for the sockets spawn-fcgi and systemd open (Linux caps it
        /// at net.core.somaxconn).
        package var backlog: Int32
        /// How long in-flight requests may run after a shutdown begins.
        package var drainTimeoutSeconds: Double
        /// Who may connect over TCP. Required (nil refuses to start) when the
        /// listening socket is TCP; unused for a unix socket.
        package var peers: PeerPolicy?
        /// Keep-alive and timeouts for accepted TCP connections.
        package var tcpTimeouts: TCPConnectionTimeouts
        /// When set, every accepted connection, unix or TCP, gets read and write
        /// timeouts of this many seconds: a server of few threads (the metrics
        /// endpoint's one) cannot be held by a peer that connects and sends nothing.
        /// With `.bind` only: a parked connection is not read, so nothing times out.
        package var connectionIOTimeoutSeconds: Int32?
        /// How kept-alive connections wait between requests.
        package var keptAlive: KeptAliveConnections
        /// At most one `malloc_trim` per this many milliseconds (see `trimAfterBytes`).
        package var trimIntervalMilliseconds: Int64
        /// The monotonic clock that interval is measured on, in milliseconds (tests set their own).
        package var trimClock: @Sendable () -> Int64

        package init(
            socket: ListeningSocket = .inherited,
            threads: Int = 64,
            maxBodyBytes: Int = 1 << 20,
            backlog: Int32 = 4096,
            drainTimeoutSeconds: Double = 4.5,
            peers: PeerPolicy? = nil,
            tcpTimeouts: TCPConnectionTimeouts = .standard,
            connectionIOTimeoutSeconds: Int32? = nil,
            keptAlive: KeptAliveConnections = .park,
            trimIntervalMilliseconds: Int64 = 2_000,
            trimClock: @escaping @Sendable () -> Int64 = { Int64(monotonicSeconds() * 1000) }
        ) {
            self.socket = socket
            self.threads = threads
            self.maxBodyBytes = maxBodyBytes
            self.backlog = backlog
            self.drainTimeoutSeconds = drainTimeoutSeconds
            self.peers = peers
            self.tcpTimeouts = tcpTimeouts
            self.connectionIOTimeoutSeconds = connectionIOTimeoutSeconds
            self.keptAlive = keptAlive
            self.trimIntervalMilliseconds = trimIntervalMilliseconds
            self.trimClock = trimClock
        }
    }

    let configuration: Configuration
    let responder: any FastCGIResponder
    let logger: Logger
    private let shuttingDown = Atomic<Bool>(false)
    /// The monotonic second of the last "accept failed" line.
    private let acceptFailureLoggedAt = Atomic<Int64>(-1)
    /// The listening socket if the worker opened it itself (--socket, --listen), else -1.
    private let ownListeningFD = Atomic<Int32>(-1)
    /// The listening socket being served (own or handed over), else -1: its backlog is read at scrape time.
    private let listeningFD = Atomic<Int32>(-1)
    private let slots: Mutex<[WorkerSlot]> = Mutex([])
    /// The epoll set of `KeptAliveConnections.park`, while running.
    private let park: Mutex<ConnectionPark?> = Mutex(nil)
    let metrics: WorkerMetrics

    /// `metricsFactory` makes the worker loop's metric handles, once; a server whose
    /// own traffic must not count (the metrics endpoint's) passes `NOOPMetricsHandler.instance`.
    package init(configuration: Configuration, responder: any FastCGIResponder, logger: Logger,
                 metricsFactory: any MetricsFactory = MetricsSystem.factory) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
        self.metrics = WorkerMetrics(threads: configuration.threads, factory: metricsFactory,
                                     parked: configuration.keptAlive == .park)
    }

    /// Publishes the worker loop's gauges (threads busy, kept alive, the listen
    /// backlog read from the kernel now). Called before each scrape.
    package func sampleMetrics() {
        metrics.sampleGauges(listening: listeningFD.load(ordering: .acquiring))
    }

    /// The requests answered when `isMakingProgress` last saw a change (or a free
    /// thread), and when.
    private let progress = Mutex<(completed: Int, since: Double)?>(nil)

    /// False once every thread has been busy, and no request has been answered,
    /// for `stalledAfterSeconds`: the threads are stuck (a deadlock, a store that
    /// never answers), not merely saturated. Measured between calls: call it
    /// more often than `stalledAfterSeconds` (the health check does, once a second
    /// while probed).
    package func isMakingProgress(stalledAfterSeconds: Double) -> Bool {
        let completed = metrics.completed.load(ordering: .relaxed)
        let allBusy = metrics.busy.load(ordering: .relaxed) >= configuration.threads
        let now = monotonicSeconds()
        return progress.withLock { seen in
            guard allBusy, let last = seen, last.completed == completed else {
                seen = (completed, now)
                return true
            }
            return now - last.since < stalledAfterSeconds
        }
    }

    package var isShuttingDown: Bool { shuttingDown.load(ordering: .acquiring) }

    /// Connections parked now (`KeptAliveConnections.park`; 0 otherwise), for tests.
    package var parkedConnections: Int { park.withLock { $0?.parkedCount ?? 0 } }

    /// `malloc_trim` calls so far (`trimIfDue`), for tests.
    package var mallocTrims: Int { trims.load(ordering: .relaxed) }

    /// Opens the socket, starts the threads and blocks until `shutdown()` has been
    /// called and the in-flight requests have finished (or the drain timeout passed).
    package func run() throws(FastCGIServerError) {
        signal(SIGPIPE, SIG_IGN)
        guard FCGX_Init() == 0 else { throw .initFailed }
        let fd = try configuration.socket.open(backlog: configuration.backlog)
        let tcp = isInternetSocket(fd)
        if tcp && configuration.peers == nil {
            if configuration.socket != .inherited { close(fd) }
            throw .noPeerAllowList
        }
        AcceptWakeSignal.install()
        if configuration.socket != .inherited { ownListeningFD.store(fd, ordering: .releasing) }
        listeningFD.store(fd, ordering: .releasing)

        var parking: ConnectionPark?
        if configuration.keptAlive == .park {
            guard let created = ConnectionPark(listening: fd) else {
                if configuration.socket != .inherited { close(fd) }
                throw .initFailed
            }
            parking = created
            park.withLock { $0 = created }
        }
        let finished = Countdown(count: configuration.threads)
        let created = (0..<configuration.threads).map { _ in WorkerSlot() }
        slots.withLock { $0 = created }
        for slot in created {
            startThread(stackSize: Self.threadStackSize) { [self, parking] in
                AcceptWakeSignal.block()
                if let parking {
                    self.serve(slot, park: parking, tcp: tcp)
                } else {
                    self.serve(slot, listening: fd, tcp: tcp)
                }
                finished.decrement()
            }
        }
        logger.info("listening", metadata: ["threads": "\(configuration.threads)", "socket": "\(configuration.socket)"])

        let allEnded = finished.waitUntilZero(orShutdownPlus: configuration.drainTimeoutSeconds, shuttingDown: { self.isShuttingDown })
        // Threads still running a request past the drain timeout may use the set.
        if allEnded, let parking {
            park.withLock { $0 = nil }
            parking.close()
        }
        // A socket handed over (systemd, spawn-fcgi) stays open and untouched: the
        // next worker serves it, and connections waiting in its backlog go there.
        listeningFD.store(-1, ordering: .releasing)
        if configuration.socket != .inherited { close(fd) }
        logger.info("stopped")
    }

    /// Stops accepting, wakes the threads waiting for a request and lets the
    /// in-flight requests finish. Safe to call from any thread, more than once.
    package func shutdown() {
        guard !shuttingDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        logger.info("shutting down")
        // A socket of our own may refuse new connections at once (what waits in
        // its backlog was never accepted). One handed over stays untouched.
        let own = ownListeningFD.load(ordering: .acquiring)
        if own >= 0 { _ = Glibc.shutdown(own, Int32(SHUT_RDWR)) }
        park.withLock { $0?.shutdown() }
        let all = slots.withLock { $0 }
        // A thread signalled just before it enters accept would sleep on: signal
        // each thread still in accept again until every one has left it.
        let deadline = monotonicSeconds() + configuration.drainTimeoutSeconds
        while true {
            var inAccept = 0
            for slot in all where slot.wake() { inAccept += 1 }
            if inAccept == 0 { return }
            if monotonicSeconds() > deadline {
                logger.warning("threads still in accept", metadata: ["threads": "\(inAccept)"])
                return
            }
            usleep(1_000)
        }
    }

    /// The loop of `KeptAliveConnections.bind`.
    private func serve(_ slot: WorkerSlot, listening: Int32, tcp: Bool) {
        let request = slot.request
        defer { FCGX_Free(request, 1) }
        while true {
            let keptAlive = request.pointee.ipcFd >= 0
            if !keptAlive {
                // A connection accepted here is served even if a shutdown begins
                // meanwhile: its request may already be on the wire.
                guard let connection = accept(slot, listening: listening, tcp: tcp) else { return }
                request.pointee.ipcFd = connection
                // FCGX_Accept_r first finishes the previous request, and closes the
                // connection unless this is set; the begin record then sets it anew.
                request.pointee.keepConnection = 1
            } else {
                // A kept-alive connection: wait for nginx's next request on it.
                guard slot.enterWaitingOnConnection(unless: { isShuttingDown }) else { return }
                metrics.waitingOnKeptAliveConnection()
            }
            let status = FCGX_Accept_r(request)
            slot.leave()
            if keptAlive { metrics.doneWaitingOnKeptAliveConnection() }
            // The connection ended before a whole request arrived: libfcgi closed it.
            guard status >= 0 else { continue }
            metrics.requestStarted()
            let large = handle(request)
            FCGX_Finish_r(request)
            metrics.requestFinished()
            trimIfDue(afterLarge: large)
        }
    }

    /// The loop of `KeptAliveConnections.park`: take whichever connection is ready
    /// first (a new one, or a parked one whose next request arrived), serve its
    /// request, park it again if the web server keeps it.
    private func serve(_ slot: WorkerSlot, park: ConnectionPark, tcp: Bool) {
        let request = slot.request
        defer { FCGX_Free(request, 1) }
        var pending: [Int32] = []
        while let connection = nextConnection(slot, park: park, tcp: tcp, pending: &pending) {
            request.pointee.ipcFd = connection
            // FCGX_Accept_r first finishes the previous request, and closes the
            // connection unless this is set; the begin record then sets it anew.
            request.pointee.keepConnection = 1
            let status = FCGX_Accept_r(request)
            // The connection ended before a whole request arrived: libfcgi closed it.
            guard status >= 0 else { continue }
            metrics.requestStarted()
            let large = handle(request)
            FCGX_Finish_r(request)
            metrics.requestFinished()
            defer { trimIfDue(afterLarge: large) }
            // Kept alive (the begin record asked for it and the answer went out whole).
            let kept = request.pointee.ipcFd
            if kept >= 0 {
                request.pointee.ipcFd = -1
                if park.park(kept, registered: true, unless: { isShuttingDown }) {
                    metrics.waitingOnKeptAliveConnection()
                } else {
                    close(kept)
                }
            }
        }
    }

    /// The next connection with a request to read, nil once a shutdown has begun
    /// and no parked connection is left. `pending`: connections this thread
    /// accepted that a shutdown kept it from parking (served, not dropped: their
    /// request may already be on the wire).
    private func nextConnection(_ slot: WorkerSlot, park: ConnectionPark, tcp: Bool, pending: inout [Int32]) -> Int32? {
        while true {
            if let connection = pending.popLast() { return connection }
            if isShuttingDown && park.parkedCount == 0 { return nil }
            metrics.enteringAccept()
            let ready = park.waitForReady()
            metrics.leftAccept(gotConnection: false)
            guard let ready else { continue }
            if ready == park.wake {
                // A shutdown: the parked connections are being read to their end
                // by the other threads; wait for them to be taken.
                if park.parkedCount == 0 { return nil }
                usleep(1_000)
                continue
            }
            if ready == park.listening {
                takeBacklog(slot, park: park, tcp: tcp, pending: &pending)
                continue
            }
            if let state = park.take(ready) {
                metrics.doneWaitingOnKeptAliveConnection()
                if state == .ended {
                    close(ready)
                    continue
                }
                return ready
            }
        }
    }

    /// Accepts what waits in the backlog, up to one connection per thread, and
    /// parks each: they are served in the order they became ready, after the
    /// parked connections that were ready before them. Then the listening socket
    /// is armed again and takes its turn behind them.
    private func takeBacklog(_ slot: WorkerSlot, park: ConnectionPark, tcp: Bool, pending: inout [Int32]) {
        defer { park.rearmListening() }
        var waiting = pollfd(fd: park.listening, events: Int16(POLLIN), revents: 0)
        for _ in 0..<configuration.threads {
            // Only what is there now: the listening socket may be shared with
            // another worker (a restart under systemd), and accept would block.
            guard !isShuttingDown, poll(&waiting, 1, 0) == 1, waiting.revents & Int16(POLLIN) != 0 else { return }
            guard let connection = accept(slot, listening: park.listening, tcp: tcp) else { return }
            if park.park(connection, registered: false, unless: { isShuttingDown }) {
                metrics.waitingOnKeptAliveConnection()
            } else {
                pending.append(connection)
                return
            }
        }
    }

    /// Accepts one connection, close-on-exec (a crashing worker starts the Swift
    /// runtime's backtracer, which must not inherit nginx's connections); nil once
    /// a shutdown has begun.
    private func accept(_ slot: WorkerSlot, listening: Int32, tcp: Bool) -> Int32? {
        while true {
            guard slot.enterAccepting(unless: { isShuttingDown }) else { return nil }
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            metrics.enteringAccept()
            AcceptWakeSignal.unblock()
            let connection = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.accept(listening, $0, &length)
                }
            }
            let error = errno
            AcceptWakeSignal.block()
            metrics.leftAccept(gotConnection: connection >= 0)
            slot.leave()
            guard connection >= 0 else {
                // Our own socket shut down for the stop (EINVAL), or woken by the signal.
                if isShuttingDown { return nil }
                switch error {
                case EINTR, ECONNABORTED, EPROTO, ECONNRESET, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH:
                    continue
                default:
                    // EMFILE and the like: back off instead of spinning, and say so
                    // once a second, not once per thread every 10 ms.
                    let second = Int64(monotonicSeconds())
                    if acceptFailureLoggedAt.exchange(second, ordering: .relaxed) != second {
                        logger.warning("accept failed", metadata: ["errno": "\(error)"])
                    }
                    usleep(10_000)
                    continue
                }
            }
            // accept4 (SOCK_CLOEXEC in one step) is not visible to Swift without _GNU_SOURCE.
            closeOnExec(connection)
            if tcp {
                guard configuration.peers?.admits(address) ?? false else {
                    close(connection)
                    logger.warning("refused a connection from a peer outside the allow list",
                                   metadata: ["peer": "\(describe(address))"])
                    continue
                }
                if !configuration.tcpTimeouts.apply(to: connection) {
                    logger.warning("cannot set keep-alive and timeouts on a TCP connection", metadata: ["errno": "\(errno)"])
                }
            }
            if let seconds = configuration.connectionIOTimeoutSeconds, !setIOTimeouts(connection, seconds: seconds) {
                logger.warning("cannot set timeouts on a connection", metadata: ["errno": "\(errno)"])
            }
            return connection
        }
    }

    /// Bytes of body and answer from which a request's thread hands the memory
    /// malloc keeps free back to the system once it has answered (`malloc_trim`).
    /// glibc keeps what a thread frees in its arena for the next allocations, so a
    /// large request left its peak resident for good: five 10,000-track reorders
    /// (bodies of some 200 KiB, decoded into arrays and strings) left the worker
    /// 3.5 MiB larger, 4.1 MiB of which `malloc_trim` returned (docs/performance.md,
    /// "The writer's page cache"). Small requests reuse what they free.
    /// At most one trim per `Configuration.trimIntervalMilliseconds`, by
    /// whichever thread finishes a request once it is due: a trim walks every malloc
    /// arena, taking each one's lock, for milliseconds, and large requests can come
    /// back to back (anyone may send a large body before the key is checked).
    static let trimAfterBytes = 128 * 1024
    /// A large request ended since the last trim.
    private let trimPending = Atomic<Bool>(false)
    private let lastTrimAt = Atomic<Int64>(Int64.min / 2)
    private let trims = Atomic<Int>(0)

    /// After a request: notes a large one, and trims if one is pending and the
    /// interval has passed (one thread wins the turn).
    private func trimIfDue(afterLarge large: Bool) {
        if large { trimPending.store(true, ordering: .relaxed) }
        guard trimPending.load(ordering: .relaxed) else { return }
        let now = configuration.trimClock()
        let last = lastTrimAt.load(ordering: .relaxed)
        guard now - last >= configuration.trimIntervalMilliseconds,
              lastTrimAt.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged
        else { return }
        trimPending.store(false, ordering: .relaxed)
        _ = music_malloc_trim()
        trims.add(1, ordering: .relaxed)
    }

    /// Answers the request; true if it was large (`trimAfterBytes`): the caller
    /// trims (`trimIfDue`) once the answer has gone out and the connection is
    /// parked again (a trim takes milliseconds; done before, it delayed a
    /// reorder's answer by 17 ms).
    private func handle(_ request: UnsafeMutablePointer<FCGX_Request>) -> Bool {
        let (body, answer) = respond(to: request)
        return body + answer >= Self.trimAfterBytes
    }

    /// Reads the request, answers it; returns the bytes of the body read and of the answer.
    private func respond(to request: UnsafeMutablePointer<FCGX_Request>) -> (body: Int, answer: Int) {
        let parameters = CGIParameters(envp: request.pointee.envp)
        let requestID = parameters.requestID
        guard let head = parameters.httpRequest(requestID: requestID) else {
            return (0, write(responder.respondToMalformedRequest(requestID: requestID), to: request))
        }
        var bodyBytes = 0
        let response: FastCGIResponse
        switch parameters.contentLength {
        case .invalid:
            response = responder.respondToMalformedRequest(requestID: requestID)
        case .declared(let length) where length > configuration.maxBodyBytes:
            // Not reading the body leaves records on the connection: close it.
            request.pointee.keepConnection = 0
            response = responder.respondToOversizedBody(of: head, declaredLength: length)
        case .declared(let length):
            let body = readBody(request.pointee.in, upTo: length, expected: length)
            bodyBytes = body.count
            if !discardRest(of: request.pointee.in, upTo: configuration.maxBodyBytes) {
                request.pointee.keepConnection = 0
            }
            response = responder.respond(to: head, body: body)
        case .absent:
            let body = readBody(request.pointee.in, upTo: configuration.maxBodyBytes + 1)
            bodyBytes = body.count
            if body.count > configuration.maxBodyBytes {
                request.pointee.keepConnection = 0
                response = responder.respondToOversizedBody(of: head, declaredLength: body.count)
            } else {
                response = responder.respond(to: head, body: body)
            }
        }
        return (bodyBytes, write(response, to: request))
    }

    /// Reads until `limit` bytes or the end of the stream, whichever comes first:
    /// libfcgi does not enforce `CONTENT_LENGTH`. The buffer grows with what
    /// arrives, so a request without a body costs no allocation of the cap.
    private func readBody(_ stream: UnsafeMutablePointer<FCGX_Stream>?, upTo limit: Int, expected: Int = 0) -> [UInt8] {
        guard limit > 0, let stream else { return [] }
        var body: [UInt8] = []
        body.reserveCapacity(expected)
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 16 * 1024) { chunk in
            while body.count < limit {
                let got = FCGX_GetStr(chunk.baseAddress!, Int32(min(limit - body.count, chunk.count)), stream)
                if got <= 0 { break }
                chunk.withMemoryRebound(to: UInt8.self) { body.append(contentsOf: $0[..<Int(got)]) }
            }
        }
        return body
    }

    /// Reads what is left of the body stream, up to its end-of-stream record, so
    /// that a kept-alive connection starts its next request at a record boundary:
    /// a body read to exactly `CONTENT_LENGTH` leaves that empty record unread
    /// whenever it came in a later read, and libfcgi takes it for a protocol error
    /// at the next request and closes the connection under it. False if more
    /// than `limit` bytes were left, or the stream broke: the connection must
    /// then close.
    private func discardRest(of stream: UnsafeMutablePointer<FCGX_Stream>?, upTo limit: Int) -> Bool {
        guard let stream else { return true }
        var discarded = 0
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 4 * 1024) { chunk in
            while FCGX_HasSeenEOF(stream) == 0 {
                let got = FCGX_GetStr(chunk.baseAddress!, Int32(chunk.count), stream)
                if got < 0 || FCGX_GetError(stream) != 0 { return false }
                if got == 0 { return FCGX_HasSeenEOF(stream) != 0 }
                discarded += Int(got)
                if discarded > limit { return false }
            }
            return true
        }
    }

    /// Writes the answer; returns its size in bytes.
    private func write(_ response: FastCGIResponse, to request: UnsafeMutablePointer<FCGX_Request>) -> Int {
        let head = ResponseEncoder.encodeHead(response)
        // A client gone mid-response gives EPIPE here (SIGPIPE is ignored):
        // the request simply ends.
        func put(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { buffer in
                guard let base = buffer.baseAddress else { return }
                _ = FCGX_PutStr(base.assumingMemoryBound(to: CChar.self), Int32(buffer.count), request.pointee.out)
            }
        }
        put(head)
        put(response.body)
        return head.count + response.body.count
    }
}

/// Whether `fd` is an IPv4 or IPv6 socket (FastCGI over TCP), not a unix one.
func isInternetSocket(_ fd: Int32) -> Bool {
    var domain: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) == 0 else { return false }
    return domain == AF_INET || domain == AF_INET6
}

/// A peer address for the log.
func describe(_ address: sockaddr_storage) -> String {
    guard let bytes = PeerPolicy.peerBytes(address) else { return "unix" }
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    let family = bytes.count == 4 ? AF_INET : AF_INET6
    return bytes.withUnsafeBytes { raw in
        guard inet_ntop(family, raw.baseAddress, &text, socklen_t(text.count)) != nil else { return "?" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Marks `fd` close-on-exec. A crashing worker starts the Swift runtime's
/// backtracer (`swift-backtrace`), which would otherwise inherit the listening
/// socket and nginx's connections and keep them open, unanswered, after the
/// worker died: the supervisor could not start a new worker on the socket, and
/// nginx would wait on those connections instead of trying the other worker.
func closeOnExec(_ fd: Int32) {
    guard fd >= 0 else { return }
    let flags = fcntl(fd, F_GETFD)
    if flags >= 0 && flags & FD_CLOEXEC == 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
}
