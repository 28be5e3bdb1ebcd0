import CFastCGI
import HTTPTypes
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The worker loop: `threads` blocking threads, each owning one `FCGX_Request`
/// and blocking in `FCGX_Accept_r` on it.
///
/// There is no accept mutex: concurrent `accept` is fine on Linux, and with
/// nginx's `fastcgi_keep_conn on` a mutex would let one idle connection stall
/// every thread. Each kept-alive nginx connection binds one thread while idle,
/// so `threads` must exceed the number of upstream connections nginx keeps
/// (`keepalive` x nginx worker processes), with room for the requests in flight.
public final class FastCGIServer: Sendable {
    public struct Configuration: Sendable {
        public var socket: ListeningSocket
        public var threads: Int
        /// Largest body read into memory; a larger declared body is answered
        /// through `FastCGIResponder.respondToOversizedBody` without reading it.
        public var maxBodyBytes: Int
        public var backlog: Int32
        /// How long in-flight requests may run after a shutdown begins.
        public var drainTimeoutSeconds: Double

        public init(
            socket: ListeningSocket = .inherited,
            threads: Int = 64,
            maxBodyBytes: Int = 1 << 20,
            backlog: Int32 = 1024,
            drainTimeoutSeconds: Double = 4.5
        ) {
            self.socket = socket
            self.threads = threads
            self.maxBodyBytes = maxBodyBytes
            self.backlog = backlog
            self.drainTimeoutSeconds = drainTimeoutSeconds
        }
    }

    let configuration: Configuration
    let responder: any FastCGIResponder
    let logger: Logger
    private let shuttingDown = Atomic<Bool>(false)
    private let listenFD = Atomic<Int32>(-1)
    private let slots: Mutex<[WorkerSlot]> = Mutex([])

    public init(configuration: Configuration, responder: any FastCGIResponder, logger: Logger) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
    }

    public var isShuttingDown: Bool { shuttingDown.load(ordering: .acquiring) }

    /// Opens the socket, starts the threads and blocks until `shutdown()` has been
    /// called and the in-flight requests have finished (or the drain timeout passed).
    public func run() throws(FastCGIServerError) {
        signal(SIGPIPE, SIG_IGN)
        guard FCGX_Init() == 0 else { throw .initFailed }
        let fd = try configuration.socket.open(backlog: configuration.backlog)
        listenFD.store(fd, ordering: .releasing)

        let finished = Countdown(count: configuration.threads)
        let created = (0..<configuration.threads).map { _ in WorkerSlot(listenFD: fd) }
        slots.withLock { $0 = created }
        for slot in created {
            startThread { [self] in
                self.serve(slot)
                finished.decrement()
            }
        }
        logger.info("listening", metadata: ["threads": "\(configuration.threads)", "socket": "\(configuration.socket)"])

        finished.waitUntilZero(orShutdownPlus: configuration.drainTimeoutSeconds, shuttingDown: { self.isShuttingDown })
        logger.info("stopped")
    }

    /// Stops accepting, wakes the threads waiting for a request and lets the
    /// in-flight requests finish. Safe to call from any thread, more than once.
    public func shutdown() {
        guard !shuttingDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        logger.info("shutting down")
        FCGX_ShutdownPending()
        let fd = listenFD.load(ordering: .acquiring)
        if fd >= 0 { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
        for slot in slots.withLock({ $0 }) {
            slot.wakeIfWaiting()
        }
    }

    private func serve(_ slot: WorkerSlot) {
        let request = slot.request
        defer { FCGX_Free(request, 1) }
        while true {
            guard slot.enterWaiting(unless: isShuttingDown) else { return }
            // libfcgi accepts a new connection only when the last one was closed.
            let accepting = request.pointee.ipcFd < 0
            let status = FCGX_Accept_r(request)
            slot.leaveWaiting()
            if status < 0 {
                if isShuttingDown { return }
                logger.warning("accept failed", metadata: ["status": "\(status)"])
                usleep(10_000)
                continue
            }
            if accepting { closeOnExec(request.pointee.ipcFd) }
            handle(request)
            FCGX_Finish_r(request)
        }
    }

    private func handle(_ request: UnsafeMutablePointer<FCGX_Request>) {
        let parameters = CGIParameters(envp: request.pointee.envp)
        let requestID = parameters.requestID
        guard let head = parameters.httpRequest(requestID: requestID) else {
            write(responder.respondToMalformedRequest(requestID: requestID), to: request)
            return
        }
        let response: FastCGIResponse
        switch parameters.contentLength {
        case .invalid:
            response = responder.respondToMalformedRequest(requestID: requestID)
        case .declared(let length) where length > configuration.maxBodyBytes:
            // Not reading the body leaves records on the connection: close it.
            request.pointee.keepConnection = 0
            response = responder.respondToOversizedBody(of: head, declaredLength: length)
        case .declared(let length):
            response = responder.respond(to: head, body: readBody(request.pointee.in, upTo: length, expected: length))
        case .absent:
            let body = readBody(request.pointee.in, upTo: configuration.maxBodyBytes + 1)
            if body.count > configuration.maxBodyBytes {
                request.pointee.keepConnection = 0
                response = responder.respondToOversizedBody(of: head, declaredLength: body.count)
            } else {
                response = responder.respond(to: head, body: body)
            }
        }
        write(response, to: request)
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

    private func write(_ response: FastCGIResponse, to request: UnsafeMutablePointer<FCGX_Request>) {
        var bytes = ResponseEncoder.encode(response)
        bytes.withUnsafeMutableBytes { buffer in
            let base = buffer.baseAddress!.assumingMemoryBound(to: CChar.self)
            // A client gone mid-response gives EPIPE here (SIGPIPE is ignored):
            // the request simply ends.
            _ = FCGX_PutStr(base, Int32(buffer.count), request.pointee.out)
        }
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
