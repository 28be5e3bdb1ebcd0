import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The worker over a real socket with the real protocol. Serialized: each test
/// owns one worker process.
@Suite("FastCGI protocol against a running music-fcgi", .serialized)
struct ProtocolTests {
    @Test("health answers 200 with Status, headers and the request id")
    func health() throws {
        let worker = try WorkerProcess()
        let response = try worker.client().request(worker.params("GET", "/v1/music/health"))
        #expect(response.status == 200)
        #expect(response.text == #"{"status":"ok"}"#)
        #expect(response.headers["x-request-id"] == "req_feedc0de")
        #expect(response.headers["content-type"] == "application/json")
    }

    @Test("a body split across many small records arrives whole")
    func bodySplitAcrossRecords() throws {
        let worker = try WorkerProcess()
        let name = String(repeating: "split-", count: 80)
        let body = Array(#"{"name": "\#(name)", "description": "across many records"}"#.utf8)
        let response = try worker.client().request(
            worker.params("POST", "/v1/music/\(worker.organizationID)/collections", contentLength: body.count, key: true),
            body: body, chunk: 7)
        #expect(response.status == 201)
        #expect(response.json["name"] as? String == name)
        #expect(response.json["description"] as? String == "across many records")
    }

    @Test("a body of exactly 1 MiB is read; one byte more answers 413 and the worker stays healthy")
    func bodyCap() throws {
        let worker = try WorkerProcess()
        let prefix = Array(#"{"name": "at the cap", "padding": ""#.utf8)
        let suffix = Array(#""}"#.utf8)
        let atCap = prefix + [UInt8](repeating: UInt8(ascii: "x"), count: (1 << 20) - prefix.count - suffix.count) + suffix
        #expect(atCap.count == 1 << 20)
        let path = "/v1/music/\(worker.organizationID)/collections"
        let accepted = try worker.client().request(worker.params("POST", path, contentLength: atCap.count, key: true), body: atCap)
        #expect(accepted.status == 201)
        #expect(accepted.json["name"] as? String == "at the cap")

        let over = atCap + [UInt8(ascii: " ")]
        let client = try worker.client()
        try client.sendBegin(keepConnection: true)
        try client.sendParams(worker.params("POST", path, contentLength: over.count, key: true))
        try client.sendStdin(Array(over.prefix(4096)), end: false)
        let rejected = try client.readResponse()
        #expect(rejected.status == 413)
        #expect(rejected.json["error"].flatMap { ($0 as? [String: Any])?["code"] as? String } == "PAYLOAD_TOO_LARGE")
        #expect(try worker.client().request(worker.params("GET", "/v1/music/health")).status == 200)
    }

    @Test("CONTENT_LENGTH larger than the body sent gives the request the bytes that came")
    func shortBody() throws {
        let worker = try WorkerProcess()
        let body = Array(#"{"name": "short"}"#.utf8)
        let response = try worker.client().request(
            worker.params("POST", "/v1/music/\(worker.organizationID)/collections", contentLength: body.count + 50, key: true), body: body)
        #expect(response.status == 201)
        #expect(try worker.client().request(worker.params("GET", "/v1/music/health")).status == 200)
    }

    @Test("an unparsable CONTENT_LENGTH answers a 400 envelope")
    func invalidContentLength() throws {
        let worker = try WorkerProcess()
        let response = try worker.client().request([("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/v1/music/health"), ("CONTENT_LENGTH", "-5")])
        #expect(response.status == 400)
        #expect(response.headers["content-type"] == "application/json")
    }

    @Test("several requests run one after another on one kept-alive connection")
    func keepConnection() throws {
        let worker = try WorkerProcess()
        let client = try worker.client()
        for index in 0..<20 {
            let response = try client.request(worker.params("GET", "/v1/music/health", requestID: "k\(index)"), keepConnection: true)
            #expect(response.status == 200)
            #expect(response.headers["x-request-id"] == "req_k\(index)")
        }
    }

    @Test("POSTs and reads alternate on one kept-alive connection, each body's end-of-stream record sent as its own write")
    func keepConnectionAfterBodies() throws {
        let worker = try WorkerProcess()
        let client = try worker.client()
        let path = "/v1/music/\(worker.organizationID)/collections"
        for index in 0..<20 {
            let body = Array(#"{"name": "kept \#(index)"}"#.utf8)
            // FastCGIClient writes each record on its own: the worker may read the body before its end record arrives.
            let created = try client.request(worker.params("POST", path, contentLength: body.count, key: true, requestID: "p\(index)"),
                                             body: body, keepConnection: true)
            #expect(created.status == 201, "request \(index)")
            #expect(created.json["name"] as? String == "kept \(index)")
            #expect(try client.request(worker.params("GET", "/v1/music/health"), keepConnection: true).status == 200, "request \(index)")
        }
    }

    @Test("200 concurrent requests are all answered correctly")
    func concurrentRequests() throws {
        let worker = try WorkerProcess(threads: 64)
        // All 200 requests are sent before any answer is read: 200 in flight at once.
        var clients: [FastCGIClient?] = []
        for index in 0..<200 {
            let client = try worker.client()
            try client.sendBegin()
            try client.sendParams(worker.params("GET", "/v1/music/c\(index)", requestID: "r\(index)"))
            try client.sendStdin([])
            clients.append(client)
        }
        for index in clients.indices {
            let response = try #require(clients[index]).readResponse()
            // Hang up as nginx does: libfcgi's close waits for the peer to close first.
            clients[index] = nil
            #expect(response.status == 404)
            #expect((response.json["error"] as? [String: Any])?["trace_id"] as? String == "req_r\(index)")
        }
    }

    @Test("clients that hang up before the answer never kill the worker")
    func clientsHangingUp() throws {
        let worker = try WorkerProcess()
        let idleSockets = try #require(worker.openSockets())
        for _ in 0..<50 {
            let client = try worker.client()
            try client.sendBegin()
            try client.sendParams(worker.params("GET", "/v1/music/\(worker.organizationID)/collections?limit=100", key: true))
            try client.sendStdin([])
            // The client goes away without reading: the worker's write fails with EPIPE.
        }
        // Connections are accepted in the order they came: once a later one is
        // answered, the 50 have been accepted; once the worker holds no more
        // sockets than when idle, it has finished and closed every one of them.
        #expect(try worker.client().request(worker.params("GET", "/v1/music/health")).status == 200)
        #expect(WorkerProcess.await(timeout: 10) { (worker.openSockets() ?? -1) <= idleSockets })
        #expect(worker.process.isRunning)
        #expect(try worker.client().request(worker.params("GET", "/v1/music/health")).status == 200)
    }

    @Test("3,000 random CGI requests from a fixed seed, CONTENT_LENGTH lying both ways, all answered; the worker lives")
    func hostileParameters() throws {
        let worker = try WorkerProcess()
        var state: UInt64 = 42
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        let methods = ["GET", "POST", "PATCH", "DELETE", "BREW", "", "G\u{0}T", String(repeating: "X", count: 300)]
        let uris = ["/v1/music/health", "/v1/music/\(worker.organizationID)/collections", "/%00/%ff/..", "",
                    "/v1/music/" + String(repeating: "a/", count: 2000), "/v1/music/health?" + String(repeating: "x=1&", count: 3000)]
        for index in 0..<3_000 {
            let body = [UInt8]((0..<next(300)).map { _ in UInt8(next(256)) })
            let declared = [String(body.count), String(body.count + 1 + next(100)), String(max(0, body.count - 1 - next(5))),
                            "", "-1", "abc", "99999999999999999999"][next(7)]
            var params = [("REQUEST_METHOD", methods[next(methods.count)]), ("REQUEST_URI", uris[next(uris.count)]),
                          ("REQUEST_ID", "fuzz\(index)"), ("CONTENT_LENGTH", declared)]
            if next(2) == 0 { params.append(("HTTP_X_API_KEY", next(2) == 0 ? worker.apiKey : "ak_\(index)")) }
            if next(2) == 0 { params.append(("CONTENT_TYPE", ["application/json", "text/plain", ""][next(3)])) }
            if next(4) == 0 { params.append(("HTTP_" + String(repeating: "X", count: next(200) + 1), String(repeating: "v", count: next(5000)))) }
            let client = try worker.client()
            try client.sendBegin()
            try client.sendParams(params)
            try client.sendStdin(body, chunk: 1 + next(64))
            let response = try client.readResponse()
            #expect((200...599).contains(response.status), "case \(index)")
            #expect(response.headers["content-type"] == "application/json", "case \(index)")
            #expect(response.status < 300 || (response.json["error"] as? [String: Any])?["status"] as? Int == response.status, "case \(index)")
        }
        #expect(worker.process.isRunning)
        #expect(try worker.client().request(worker.params("GET", "/v1/music/health")).status == 200)
    }

    @Test("SIGTERM lets the request in flight finish, refuses new ones, and exits 0 within 5 s")
    func sigtermDrains() throws {
        let worker = try WorkerProcess()
        let idle = try worker.client()
        #expect(try idle.request(worker.params("GET", "/v1/music/health"), keepConnection: true).status == 200)
        let socketsBefore = try #require(worker.openSockets())

        let body = Array(#"{"name": "in flight during shutdown"}"#.utf8)
        let inFlight = try worker.client()
        try inFlight.sendBegin()
        try inFlight.sendParams(worker.params("POST", "/v1/music/\(worker.organizationID)/collections", contentLength: body.count, key: true))
        try inFlight.sendStdin(Array(body.prefix(10)), end: false)
        // In flight once accepted: a connection accepted before the shutdown is served.
        #expect(WorkerProcess.await(timeout: 10) { (worker.openSockets() ?? 0) > socketsBefore })

        let started = Date()
        worker.terminate()
        // The worker shuts its own listening socket down: connecting fails from then on.
        #expect(WorkerProcess.await(timeout: 5) { (try? worker.client()) == nil })
        #expect((try? worker.client().request(worker.params("GET", "/v1/music/health"))) == nil)

        try inFlight.sendStdin(Array(body.dropFirst(10)))
        let response = try inFlight.readResponse()
        #expect(response.status == 201)
        #expect(response.json["name"] as? String == "in flight during shutdown")

        let status = worker.waitForExit(timeout: 5)
        #expect(status == 0)
        #expect(Date().timeIntervalSince(started) < 5)
    }
}
