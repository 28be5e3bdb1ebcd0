@testable import FastCGI
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Kept-alive connections parked between requests (`KeptAliveConnections.park`):
/// an idle one holds no thread, and one whose requests come back to back does not
/// keep a connection waiting in the backlog from being served (with `.bind` it
/// does: the multi-second tail under overload, docs/performance.md "Overload").
@Suite("Kept-alive connections parked between requests", .serialized)
struct KeptAliveParkingTests {
    typealias Params = [(String, String)]

    /// `request` on a thread of its own; its status, or nil if none came within `seconds`.
    func status(within seconds: Double, _ request: @escaping @Sendable () throws -> Int) -> Int? {
        let answer = Mutex<Int?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            answer.withLock { $0 = try? request() }
            done.signal()
        }.start()
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return answer.withLock { $0 }
    }

    @Test("with one thread, an idle kept-alive connection holds no thread: a new connection is served while it stays open",
          arguments: [KeptAliveConnections.park, .bind])
    func idleKeptAliveHoldsNoThread(mode: KeptAliveConnections) throws {
        let stack = try InProcessServer(threads: 1, keptAlive: mode)
        let kept = try stack.client()
        #expect(try kept.request(InProcessServerTests.params("GET", "/first"), keepConnection: true).status == 200)
        let path = stack.socketPath
        let served = status(within: 5) {
            try FastCGIClient(socketPath: path).request(InProcessServerTests.params("GET", "/new")).status
        }
        if mode == .park {
            #expect(served == 200)
            #expect(try kept.request(InProcessServerTests.params("GET", "/again"), keepConnection: true).status == 200)
        } else {
            // libfcgi's way, for the record: the one thread waits on the idle connection.
            #expect(served == nil)
        }
    }

    @Test("with one thread, a connection in the backlog is served while a kept-alive connection sends requests back to back",
          arguments: [KeptAliveConnections.park, .bind])
    func backToBackRequestsDoNotStarveTheBacklog(mode: KeptAliveConnections) throws {
        let stack = try InProcessServer(threads: 1, keptAlive: mode)
        let kept = try stack.client()
        #expect(try kept.request(InProcessServerTests.params("GET", "/first"), keepConnection: true).status == 200)
        let newcomer = Mutex<Int?>(nil)
        let path = stack.socketPath
        let newcomerDone = DispatchSemaphore(value: 0)
        Thread {
            let answer = try? FastCGIClient(socketPath: path).request(InProcessServerTests.params("GET", "/new")).status
            newcomer.withLock { $0 = answer }
            newcomerDone.signal()
        }.start()
        // The kept-alive connection's next request follows each answer at once, as
        // nginx's do under load; bounded in count and time.
        let deadline = Date().addingTimeInterval(5)
        var keptRequests = 0
        let answered = { newcomer.withLock { $0 } != nil }
        while !answered(), Date() < deadline, keptRequests < 20_000 {
            #expect(try kept.request(InProcessServerTests.params("GET", "/kept"), keepConnection: true).status == 200)
            keptRequests += 1
        }
        if mode == .park {
            #expect(newcomerDone.wait(timeout: .now() + 5) == .success)
            #expect(newcomer.withLock { $0 } == 200, "the connection in the backlog waited through \(keptRequests) kept-alive requests")
        } else {
            #expect(newcomer.withLock { $0 } == nil, "served after \(keptRequests) kept-alive requests")
        }
    }

    @Test("more kept-alive connections than threads, POSTs back to back on each: every one answered, no kept-alive connection closed")
    func everyPostOnAKeptAliveConnectionIsAnswered() throws {
        // What nginx needs (it retries no POST): a connection it keeps is never
        // closed under a request it sent. 2 threads, 24 connections of 100 POSTs each.
        let stack = try InProcessServer(threads: 2)
        let connections = 24, perConnection = 100
        let failures = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)
        let path = stack.socketPath
        for connection in 0..<connections {
            Thread {
                defer { done.signal() }
                do {
                    let client = try FastCGIClient(socketPath: path)
                    for index in 0..<perConnection {
                        let body = Array("post \(connection).\(index)".utf8)
                        let answer = try client.request(
                            InProcessServerTests.params("POST", "/echo/\(connection)/\(index)", contentLength: String(body.count)),
                            body: body, keepConnection: true)
                        if answer.status != 200 || answer.body != body {
                            failures.withLock { $0.append("\(connection).\(index): \(answer.status)") }
                        }
                    }
                    if client.peerCloses(within: 0.05) { failures.withLock { $0.append("\(connection): closed") } }
                } catch {
                    failures.withLock { $0.append("\(connection): \(error)") }
                }
            }.start()
        }
        for _ in 0..<connections { #expect(done.wait(timeout: .now() + 60) == .success) }
        #expect(failures.withLock { $0 } == [])
        #expect(stack.responder.calls.count == connections * perConnection)
    }

    /// A new connection whose request (/block) holds a thread until the responder
    /// releases it; returned once it does.
    func holdAThread(_ stack: InProcessServer) throws -> FastCGIClient {
        let client = try stack.client()
        try client.sendBegin()
        try client.sendParams(InProcessServerTests.params("GET", "/block"))
        try client.sendStdin([])
        #expect(stack.responder.blockedEntered.wait(timeout: .now() + 10) == .success)
        return client
    }

    @Test("shutdown: a request already sent on a parked connection is answered, an idle parked one is closed, run() returns")
    func shutdownServesWhatParkedConnectionsSent() throws {
        let stack = try InProcessServer(threads: 1)
        let sending = try stack.client()
        #expect(try sending.request(InProcessServerTests.params("GET", "/first"), keepConnection: true).status == 200)
        let idle = try stack.client()
        #expect(try idle.request(InProcessServerTests.params("GET", "/first"), keepConnection: true).status == 200)
        // The one thread busy; then a request arrives on the parked connection.
        let inFlight = try holdAThread(stack)
        try sending.sendBegin(keepConnection: true)
        try sending.sendParams(InProcessServerTests.params("GET", "/sent-before-the-stop"))
        try sending.sendStdin([])

        stack.server.shutdown()
        stack.responder.release()
        #expect(try inFlight.readResponse().text == "released")
        let answer = try sending.readResponse()
        #expect(answer.status == 200)
        #expect(answer.headers["x-path"] == "/sent-before-the-stop")
        #expect(sending.peerCloses(within: 5))
        #expect(idle.peerCloses(within: 5))
        #expect(stack.waitForRunToReturn(timeout: 5))
    }

    @Test("shutdown: an idle parked connection ends at once while every thread is busy, so the web server drops it before sending it a request")
    func shutdownClosesIdleParkedConnectionsAtOnce() throws {
        let stack = try InProcessServer(threads: 1)
        let idle = try stack.client()
        #expect(try idle.request(InProcessServerTests.params("GET", "/first"), keepConnection: true).status == 200)
        let inFlight = try holdAThread(stack)

        stack.server.shutdown()
        // The one thread still holds /block: the idle connection ends without it.
        #expect(idle.peerCloses(within: 5))
        stack.responder.release()
        #expect(try inFlight.readResponse().text == "released")
        #expect(stack.waitForRunToReturn(timeout: 5))
    }

    @Test("shutdown: a connection accepted before its first request still has that request answered")
    func shutdownServesANewConnectionsFirstRequest() throws {
        let stack = try InProcessServer(threads: 2)
        // The start-up probe's connection (InProcessServer.init) was accepted before
        // this request's, so once this is answered and nothing is parked, it is gone.
        #expect(try stack.client().request(InProcessServerTests.params("GET", "/first")).status == 200)
        #expect(WorkerProcess.await(timeout: 5) { stack.server.parkedConnections == 0 })
        let fresh = try stack.client()
        // A thread accepts it and parks it, nothing read yet.
        #expect(WorkerProcess.await(timeout: 5) { stack.server.parkedConnections == 1 })
        stack.server.shutdown()
        let answer = try fresh.request(InProcessServerTests.params("POST", "/after-the-stop"))
        #expect(answer.status == 200)
        #expect(answer.headers["x-path"] == "/after-the-stop")
        #expect(stack.waitForRunToReturn(timeout: 5))
    }

    @Test("progress: false once every thread has been busy, none answering, for the given time; true again when one answers")
    func progress() throws {
        let stack = try InProcessServer(threads: 2)
        #expect(stack.server.isMakingProgress(stalledAfterSeconds: 0.3))
        var blocked: [FastCGIClient] = []
        for _ in 0..<2 { blocked.append(try holdAThread(stack)) }
        // Every thread busy: still "progress" until the time has passed without an answer.
        #expect(stack.server.isMakingProgress(stalledAfterSeconds: 0.3))
        #expect(WorkerProcess.await(timeout: 5) { !stack.server.isMakingProgress(stalledAfterSeconds: 0.3) })
        // One request answered: progress again.
        stack.responder.release()
        #expect(WorkerProcess.await(timeout: 5) { stack.server.isMakingProgress(stalledAfterSeconds: 0.3) })
        stack.responder.release()
        for client in blocked { #expect(try client.readResponse().status == 200) }
    }
}
