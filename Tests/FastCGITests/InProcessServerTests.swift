import FastCGI
import Foundation
import HTTPTypes
import Logging
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What the stub was called with, in call order.
enum StubCall: Equatable {
    case respond(method: String, path: String, bodyLength: Int)
    case oversized(path: String, declaredLength: Int)
    case malformed(requestID: String)
}

/// A responder that echoes what it receives, so the tests see exactly what the
/// server handed it. `/block` waits until `release()` (a request in flight for
/// the shutdown tests); `/big?n=N` answers N patterned bytes; `/own-length`
/// sets its own Content-Length.
final class StubResponder: FastCGIResponder {
    private let log = Mutex<[StubCall]>([])
    /// Signalled when a `/block` request has reached the responder.
    let blockedEntered = DispatchSemaphore(value: 0)
    private let gate = DispatchSemaphore(value: 0)

    var calls: [StubCall] { log.withLock { $0 } }

    func release() { gate.signal() }

    static func pattern(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) } }

    func respond(to request: HTTPRequest, body: [UInt8]) -> FastCGIResponse {
        let path = request.path ?? ""
        log.withLock { $0.append(.respond(method: request.method.rawValue, path: path, bodyLength: body.count)) }
        var head = HTTPResponse(status: .ok)
        head.headerFields[.contentType] = "application/octet-stream"
        head.headerFields[HTTPField.Name("X-Method")!] = request.method.rawValue
        head.headerFields[HTTPField.Name("X-Path")!] = path
        if let test = request.headerFields[HTTPField.Name("X-Test")!] { head.headerFields[HTTPField.Name("X-Test-Echo")!] = test }
        if path == "/block" {
            blockedEntered.signal()
            gate.wait()
            return FastCGIResponse(head: head, body: Array("released".utf8))
        }
        if path.hasPrefix("/big?n="), let count = Int(path.dropFirst("/big?n=".count)) {
            return FastCGIResponse(head: head, body: Self.pattern(count))
        }
        if path == "/own-length" {
            head.headerFields[.contentLength] = "5"
            return FastCGIResponse(head: head, body: Array("fixed".utf8))
        }
        return FastCGIResponse(head: head, body: body)
    }

    func respondToOversizedBody(of request: HTTPRequest, declaredLength: Int) -> FastCGIResponse {
        log.withLock { $0.append(.oversized(path: request.path ?? "", declaredLength: declaredLength)) }
        var head = HTTPResponse(status: .contentTooLarge)
        head.headerFields[HTTPField.Name("X-Declared-Length")!] = String(declaredLength)
        return FastCGIResponse(head: head, body: Array("too large".utf8))
    }

    func respondToMalformedRequest(requestID: String) -> FastCGIResponse {
        log.withLock { $0.append(.malformed(requestID: requestID)) }
        var head = HTTPResponse(status: .badRequest)
        head.headerFields[HTTPField.Name("X-Request-ID")!] = requestID
        return FastCGIResponse(head: head, body: [])
    }
}

/// `FastCGIServer` in this process on a temporary unix socket, its `run()` on a
/// thread of its own.
final class InProcessServer {
    let directory: String
    let socketPath: String
    let server: FastCGIServer
    let responder: StubResponder
    /// Signalled when `run()` returns, with what it threw.
    private final class RunEnd: Sendable {
        let finished = DispatchSemaphore(value: 0)
        let error = Mutex<String?>(nil)
    }
    private let runEnd = RunEnd()
    private var stopped = false

    init(threads: Int = 4, maxBodyBytes: Int = 1 << 20, drainTimeoutSeconds: Double = 3,
         connectionIOTimeoutSeconds: Int32? = nil, keptAlive: KeptAliveConnections = .park,
         trimIntervalMilliseconds: Int64? = nil, trimClock: (@Sendable () -> Int64)? = nil) throws {
        directory = "/tmp/fastcgi-inprocess-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socketPath = directory + "/server.sock"
        responder = StubResponder()
        var configuration = FastCGIServer.Configuration(
            socket: .unix(path: socketPath), threads: threads, maxBodyBytes: maxBodyBytes, drainTimeoutSeconds: drainTimeoutSeconds,
            connectionIOTimeoutSeconds: connectionIOTimeoutSeconds, keptAlive: keptAlive)
        if let trimIntervalMilliseconds { configuration.trimIntervalMilliseconds = trimIntervalMilliseconds }
        if let trimClock { configuration.trimClock = trimClock }
        server = FastCGIServer(
            configuration: configuration,
            responder: responder,
            logger: Logger(label: "fastcgi-test") { _ in SwiftLogNoOpLogHandler() })
        let (server, runEnd) = (server, runEnd)
        Thread {
            do { try server.run() } catch { runEnd.error.withLock { $0 = "\(error)" } }
            runEnd.finished.signal()
        }.start()
        // The socket file appears at bind, before listen: wait for a connection to succeed.
        let path = socketPath
        guard WorkerProcess.await(timeout: 10, { (try? FastCGIClient(socketPath: path)) != nil }) else {
            throw FastCGIClient.Failure(description: "the server did not listen: \(runEnd.error.withLock { $0 } ?? "no error")")
        }
    }

    func client() throws -> FastCGIClient { try FastCGIClient(socketPath: socketPath) }

    /// Waits for `run()` to return; false after `timeout` seconds.
    func waitForRunToReturn(timeout: Double) -> Bool {
        guard runEnd.finished.wait(timeout: .now() + timeout) == .success else { return false }
        stopped = true
        return true
    }

    deinit {
        if !stopped {
            server.shutdown()
            _ = runEnd.finished.wait(timeout: .now() + 10)
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// The FastCGI target alone: framing, body cap, keep-alive and shutdown, with a
/// stub responder instead of the music worker.
@Suite("FastCGI server in process, with a stub responder", .serialized)
struct InProcessServerTests {
    static func params(_ method: String?, _ uri: String, contentLength: String? = nil, requestID: String = "0123abcd",
                       extra: [(String, String)] = []) -> [(String, String)] {
        var params: [(String, String)] = [("REQUEST_URI", uri), ("REQUEST_ID", requestID)]
        if let method { params.insert(("REQUEST_METHOD", method), at: 0) }
        if let contentLength { params.append(("CONTENT_LENGTH", contentLength)) }
        return params + extra
    }

    // MARK: Framing

    @Test("a request's method, path, headers and body reach the responder; its answer comes back as Status, headers and an exact body")
    func framing() throws {
        let stack = try InProcessServer()
        let body = StubResponder.pattern(5_000)
        let response = try stack.client().request(
            Self.params("POST", "/echo", contentLength: String(body.count), extra: [("HTTP_X_TEST", "hello")]),
            body: body, chunk: 7)
        #expect(response.status == 200)
        #expect(response.headers["status"] == "200 OK")
        #expect(response.headers["x-method"] == "POST")
        #expect(response.headers["x-path"] == "/echo")
        #expect(response.headers["x-test-echo"] == "hello")
        #expect(response.headers["content-length"] == String(body.count))
        #expect(response.body == body)
        #expect(stack.responder.calls == [.respond(method: "POST", path: "/echo", bodyLength: body.count)])
    }

    @Test("an answer larger than one record (64 KiB) arrives whole, in order")
    func largeAnswer() throws {
        let stack = try InProcessServer()
        let count = 200_000
        let response = try stack.client().request(Self.params("GET", "/big?n=\(count)"))
        #expect(response.status == 200)
        #expect(response.headers["content-length"] == String(count))
        #expect(response.body == StubResponder.pattern(count))
    }

    @Test("a Content-Length set by the responder is sent once, not doubled")
    func ownContentLength() throws {
        let stack = try InProcessServer()
        let response = try stack.client().request(Self.params("GET", "/own-length"))
        #expect(response.headerLines.filter { $0.lowercased().hasPrefix("content-length:") }.map { $0.lowercased() } == ["content-length: 5"])
        #expect(response.text == "fixed")
    }

    @Test("no method or an unparsable CONTENT_LENGTH goes to respondToMalformedRequest, with the request id")
    func malformed() throws {
        let stack = try InProcessServer()
        let noMethod = try stack.client().request(Self.params(nil, "/echo", requestID: "feed0001"))
        #expect(noMethod.status == 400)
        let badLength = try stack.client().request(Self.params("POST", "/echo", contentLength: "-5", requestID: "feed0002"))
        #expect(badLength.status == 400)
        let calls = stack.responder.calls
        #expect(calls.count == 2)
        for (call, id) in zip(calls, ["feed0001", "feed0002"]) {
            guard case .malformed(let requestID) = call else {
                Issue.record("expected a malformed-request call, got \(call)")
                continue
            }
            #expect(requestID.hasSuffix(id))
        }
        #expect(noMethod.headers["x-request-id"].map { $0.hasSuffix("feed0001") } == true)
    }

    // MARK: Body cap

    @Test("a body of exactly the cap is read whole; a declared body one byte over goes to respondToOversizedBody unread, and the connection closes")
    func declaredBodyCap() throws {
        let cap = 1_000
        let stack = try InProcessServer(maxBodyBytes: cap)
        let atCap = StubResponder.pattern(cap)
        let accepted = try stack.client().request(Self.params("POST", "/echo", contentLength: String(cap)), body: atCap)
        #expect(accepted.status == 200)
        #expect(accepted.body == atCap)

        let client = try stack.client()
        try client.sendBegin(keepConnection: true)
        try client.sendParams(Self.params("POST", "/echo", contentLength: String(cap + 1)))
        try client.sendStdin(Array(atCap.prefix(100)), end: false)
        let rejected = try client.readResponse()
        #expect(rejected.status == 413)
        #expect(rejected.headers["x-declared-length"] == String(cap + 1))
        // Asked to keep the connection, the server still closes it: the unread body is on it.
        #expect(client.peerCloses(within: 5))
        #expect(stack.responder.calls == [.respond(method: "POST", path: "/echo", bodyLength: cap),
                                          .oversized(path: "/echo", declaredLength: cap + 1)])
    }

    @Test("without CONTENT_LENGTH the body is read up to the cap; one byte more is oversized")
    func undeclaredBodyCap() throws {
        let cap = 1_000
        let stack = try InProcessServer(maxBodyBytes: cap)
        let atCap = try stack.client().request(Self.params("POST", "/echo"), body: StubResponder.pattern(cap), chunk: 333)
        #expect(atCap.status == 200)
        #expect(atCap.body == StubResponder.pattern(cap))
        let over = try stack.client().request(Self.params("POST", "/echo"), body: StubResponder.pattern(cap + 1), chunk: 333)
        #expect(over.status == 413)
        #expect(over.headers["x-declared-length"] == String(cap + 1))
        #expect(stack.responder.calls == [.respond(method: "POST", path: "/echo", bodyLength: cap),
                                          .oversized(path: "/echo", declaredLength: cap + 1)])
    }

    @Test("CONTENT_LENGTH larger than what comes gives the responder the bytes that came; smaller gives it the declared length")
    func lyingContentLength() throws {
        let stack = try InProcessServer()
        let body = StubResponder.pattern(300)
        let short = try stack.client().request(Self.params("POST", "/echo", contentLength: "350"), body: body)
        #expect(short.body == body)
        let long = try stack.client().request(Self.params("POST", "/echo", contentLength: "200"), body: body)
        #expect(long.body == Array(body.prefix(200)))
    }

    // MARK: Memory after large requests

    @Test("a request whose body and answer reach 128 KiB is followed by one malloc_trim, smaller ones by none, and no second within the interval",
          arguments: [KeptAliveConnections.park, .bind])
    func trimAfterLargeRequests(mode: KeptAliveConnections) throws {
        // One thread: it trims (or not) before it takes the next request, so each
        // answer below comes after the previous request's trim.
        let stack = try InProcessServer(threads: 1, keptAlive: mode, trimIntervalMilliseconds: 3_600_000)
        let client = try stack.client()
        func echo(_ bytes: Int) throws -> Int {
            try client.request(Self.params("POST", "/echo", contentLength: String(bytes)), body: StubResponder.pattern(bytes),
                               keepConnection: true).status
        }
        #expect(try echo(60 * 1024) == 200)  // 60 KiB in and out: under 128 KiB
        #expect(try echo(60 * 1024) == 200)
        #expect(stack.server.mallocTrims == 0)
        #expect(try echo(64 * 1024) == 200)  // 64 KiB in and out
        #expect(try echo(10) == 200)
        #expect(stack.server.mallocTrims == 1)
        #expect(try client.request(Self.params("GET", "/big?n=200000"), keepConnection: true).status == 200)
        #expect(try echo(10) == 200)
        #expect(stack.server.mallocTrims == 1)
    }

    @Test("a large request within the interval of the last trim is trimmed by the first request after the interval, and nothing more")
    func trimLaterWhenDue() throws {
        final class ManualClock: Sendable {
            let milliseconds = Mutex<Int64>(10_000)
            func advance(_ by: Int64) { milliseconds.withLock { $0 += by } }
        }
        let clock = ManualClock()
        let stack = try InProcessServer(threads: 1, trimIntervalMilliseconds: 1_000,
                                        trimClock: { clock.milliseconds.withLock { $0 } })
        let client = try stack.client()
        func get(_ path: String) throws -> Int { try client.request(Self.params("GET", path), keepConnection: true).status }
        // One thread: each answer below comes after the previous request's trim (or its absence).
        #expect(try get("/big?n=200000") == 200)
        #expect(try get("/small") == 200)
        #expect(stack.server.mallocTrims == 1)
        clock.advance(100)
        #expect(try get("/big?n=200000") == 200)
        #expect(try get("/small") == 200)
        #expect(try get("/small") == 200)
        #expect(stack.server.mallocTrims == 1)
        clock.advance(1_000)
        #expect(try get("/small") == 200)  // due: this one trims after its answer
        #expect(try get("/small") == 200)
        #expect(stack.server.mallocTrims == 2)
        clock.advance(5_000)
        #expect(try get("/small") == 200)  // nothing pending
        #expect(try get("/small") == 200)
        #expect(stack.server.mallocTrims == 2)
    }

    // MARK: Keep-alive

    @Test("requests on a kept-alive connection are answered one after another; without keep-alive the server closes after the answer")
    func keepAlive() throws {
        let stack = try InProcessServer(threads: 2)
        let kept = try stack.client()
        for index in 0..<20 {
            let body = Array("request \(index)".utf8)
            let response = try kept.request(Self.params("POST", "/echo/\(index)", contentLength: String(body.count)),
                                            body: body, keepConnection: true)
            #expect(response.headers["x-path"] == "/echo/\(index)")
            #expect(response.body == body)
        }
        #expect(!kept.peerCloses(within: 0.2))
        // The idle kept-alive connection is parked: a thread serves the next connection.
        let once = try stack.client()
        #expect(try once.request(Self.params("GET", "/once")).status == 200)
        #expect(once.peerCloses(within: 5))
        #expect(try kept.request(Self.params("GET", "/again"), keepConnection: true).headers["x-path"] == "/again")
        #expect(stack.responder.calls.count == 22)
    }

    @Test("with connection timeouts, a peer that connects and sends nothing holds the one thread for the timeout only")
    func idlePeerHoldsTheThreadForTheTimeoutOnly() throws {
        // bind, as the metrics endpoint and the health lane run: the thread reads the connection.
        let stack = try InProcessServer(threads: 1, connectionIOTimeoutSeconds: 1, keptAlive: .bind)
        let idle = try stack.client()
        let started = Date()
        // Queued behind the idle connection, which the one thread reads from.
        #expect(try stack.client().request(Self.params("GET", "/after-idle")).status == 200)
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(idle.peerCloses(within: 5))
    }

    @Test("a body of exactly CONTENT_LENGTH whose end-of-stream record comes in a later write leaves the kept-alive connection usable")
    func endOfStreamInALaterWrite() throws {
        let stack = try InProcessServer(threads: 2)
        let kept = try stack.client()
        for index in 0..<50 {
            let body = Array("body \(index)".utf8)
            try kept.sendBegin(keepConnection: true)
            try kept.sendParams(Self.params("POST", "/echo/\(index)", contentLength: String(body.count)))
            try kept.sendStdin(body, end: false)
            try kept.sendStdin([]) // its own write: the server may have read the body before it arrives
            let response = try kept.readResponse()
            #expect(response.body == body, "request \(index)")
        }
        #expect(try kept.request(Self.params("GET", "/after"), keepConnection: true).headers["x-path"] == "/after")
    }

    @Test("more body than CONTENT_LENGTH: the declared bytes are answered; within the cap the connection stays usable, beyond it closes")
    func bodyBeyondDeclaredLength() throws {
        let cap = 1_000
        let stack = try InProcessServer(maxBodyBytes: cap)
        let kept = try stack.client()
        let body = StubResponder.pattern(cap)
        let within = try kept.request(Self.params("POST", "/echo", contentLength: "10"), body: body, keepConnection: true)
        #expect(within.body == Array(body.prefix(10)))
        #expect(try kept.request(Self.params("GET", "/next"), keepConnection: true).headers["x-path"] == "/next")

        let beyond = try stack.client()
        let response = try beyond.request(Self.params("POST", "/echo", contentLength: "10"), body: StubResponder.pattern(cap + 20),
                                          keepConnection: true)
        #expect(response.body == Array(body.prefix(10)))
        #expect(beyond.peerCloses(within: 5))
    }

    // MARK: Shutdown

    @Test("shutdown refuses new connections, closes idle kept-alive ones, lets the request in flight finish, and run() returns")
    func shutdownDrains() throws {
        let stack = try InProcessServer()
        let idle = try stack.client()
        #expect(try idle.request(Self.params("GET", "/idle"), keepConnection: true).status == 200)

        var inFlight: FastCGIClient? = try stack.client()
        try inFlight?.sendBegin()
        try inFlight?.sendParams(Self.params("GET", "/block"))
        try inFlight?.sendStdin([])
        #expect(stack.responder.blockedEntered.wait(timeout: .now() + 10) == .success)

        stack.server.shutdown()
        #expect(stack.server.isShuttingDown)
        #expect((try? stack.client()) == nil)
        #expect(idle.peerCloses(within: 5))
        // run() waits for the request in flight.
        #expect(!stack.waitForRunToReturn(timeout: 0.2))

        stack.responder.release()
        let answer = try #require(inFlight).readResponse()
        #expect(answer.status == 200)
        #expect(answer.text == "released")
        // Hang up as nginx does: libfcgi's close waits (up to 2 s) for the peer to close first.
        inFlight = nil
        #expect(stack.waitForRunToReturn(timeout: 5))
    }

    @Test("a request still running when the drain timeout passes does not hold run() back")
    func drainTimeout() throws {
        let stack = try InProcessServer(drainTimeoutSeconds: 0.5)
        let inFlight = try stack.client()
        try inFlight.sendBegin()
        try inFlight.sendParams(Self.params("GET", "/block"))
        try inFlight.sendStdin([])
        #expect(stack.responder.blockedEntered.wait(timeout: .now() + 10) == .success)

        let started = Date()
        stack.server.shutdown()
        #expect(stack.waitForRunToReturn(timeout: 5))
        let took = Date().timeIntervalSince(started)
        #expect(took >= 0.5 && took < 3, "run() returned after \(took) s")
        // Let the stuck thread finish its answer and end.
        stack.responder.release()
        #expect(try inFlight.readResponse().text == "released")
    }

    @Test("shutdown with every thread waiting in accept returns at once, and run() with it")
    func idleShutdown() throws {
        let stack = try InProcessServer(threads: 8)
        let started = Date()
        stack.server.shutdown()
        stack.server.shutdown() // a second call is harmless
        #expect(stack.waitForRunToReturn(timeout: 5))
        #expect(Date().timeIntervalSince(started) < 2)
        #expect((try? stack.client()) == nil)
    }
}
