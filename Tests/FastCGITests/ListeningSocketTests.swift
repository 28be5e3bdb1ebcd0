import FastCGI
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// How the worker treats its listening socket: one handed over on fd 0 must
/// outlive the worker (systemd restarts, spawn-fcgi), and over TCP only the
/// allowed web servers may connect.
@Suite("Listening socket: restarts on a socket handed over, FastCGI over TCP", .serialized)
struct ListeningSocketTests {
    @Test("a SIGTERM'd worker leaves the socket on fd 0 serving: a request queued meanwhile and a new one get 200 from the next worker")
    func restartOnInheritedSocket() throws {
        let listener = try InheritedListener()
        let first = try WorkerProcess(inheriting: listener)
        let health = first.params("GET", "/v1/music/health")
        #expect(try FastCGIClient(socketPath: listener.path).request(health).status == 200)

        first.terminate()
        #expect(first.waitForExit(timeout: 5) == 0)

        // Between the two workers: the request waits in the socket's backlog.
        let queued = try FastCGIClient(socketPath: listener.path)
        try queued.sendBegin()
        try queued.sendParams(first.params("GET", "/v1/music/health", requestID: "queued"))
        try queued.sendStdin([])

        let second = try WorkerProcess(inheriting: listener)
        let answer = try queued.readResponse()
        #expect(answer.status == 200)
        #expect(answer.headers["x-request-id"] == "req_queued")
        #expect(try FastCGIClient(socketPath: listener.path).request(health).status == 200)
        second.terminate()
        #expect(second.waitForExit(timeout: 5) == 0)
    }

    @Test("SIGTERM ends a worker within 2 s while all its threads wait in accept (socket on fd 0, and its own)", arguments: [true, false])
    func idleThreadsWakeOnSigterm(inherited: Bool) throws {
        let listener = inherited ? try InheritedListener() : nil
        let worker = try listener.map { try WorkerProcess(threads: 48, inheriting: $0) } ?? WorkerProcess(threads: 48)
        // One answered request: the worker is up, its other threads sit in accept.
        #expect(try worker.client().request(worker.params("GET", "/v1/music/health")).status == 200)
        let started = Date()
        worker.terminate()
        #expect(worker.waitForExit(timeout: 5) == 0)
        #expect(Date().timeIntervalSince(started) < 2)
    }

    @Test("--listen without FCGI_WEB_SERVER_ADDRS refuses to start, naming the variable and --allow-any-peer")
    func tcpNeedsAllowList() throws {
        let worker = Process()
        worker.executableURL = URL(fileURLWithPath: WorkerProcess.binDirectory + "/music-fcgi")
        worker.arguments = ["--listen", "127.0.0.1:\(try Self.freePort())", "--db", "/nonexistent/music.sqlite"]
        var environment = ProcessInfo.processInfo.environment
        environment[PeerPolicy.environmentVariable] = nil
        worker.environment = environment
        let errors = Pipe()
        worker.standardError = errors
        worker.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try worker.run()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        worker.waitUntilExit()
        #expect(worker.terminationStatus != 0)
        #expect(output.contains("FCGI_WEB_SERVER_ADDRS"))
        #expect(output.contains("--allow-any-peer"))
    }

    @Test("over TCP a peer outside FCGI_WEB_SERVER_ADDRS is disconnected unanswered; an allowed one gets 200")
    func tcpAllowList() throws {
        let port = try Self.freePort()
        let directory = "/tmp/music-fcgi-test-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try WorkerProcess.demo(db: directory + "/music.sqlite")
        let worker = Process()
        worker.executableURL = URL(fileURLWithPath: WorkerProcess.binDirectory + "/music-fcgi")
        worker.arguments = ["--listen", "127.0.0.1:\(port)", "--db", directory + "/music.sqlite", "--threads", "4", "--log-level", "warning"]
        var environment = ProcessInfo.processInfo.environment
        environment[PeerPolicy.environmentVariable] = "127.0.0.2, 10.9.9.9"
        worker.environment = environment
        worker.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try worker.run()
        defer { if worker.isRunning { kill(worker.processIdentifier, SIGKILL); worker.waitUntilExit() } }

        let health: [(String, String)] = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/v1/music/health"), ("REQUEST_ID", "tcp")]
        var allowed: FastCGIClient.Response?
        #expect(WorkerProcess.await(timeout: 10) {
            allowed = try? FastCGIClient(tcpHost: "127.0.0.1", port: port, source: "127.0.0.2").request(health)
            return allowed != nil
        })
        #expect(allowed?.status == 200)

        // 127.0.0.1 is not in the list: the connection is accepted by the kernel,
        // then closed by the worker without an answer.
        let refused = try FastCGIClient(tcpHost: "127.0.0.1", port: port, source: "127.0.0.1")
        #expect(throws: FastCGIClient.Failure.self) { _ = try refused.request(health) }
        #expect(worker.isRunning)
        kill(worker.processIdentifier, SIGTERM)
        #expect(WorkerProcess.await(timeout: 5) { !worker.isRunning })
    }

    @Test("an invalid FCGI_WEB_SERVER_ADDRS entry is refused, never read as 'any peer'")
    func allowListParsing() throws {
        #expect(try PeerPolicy.parse("10.0.0.1, 10.0.0.2") == .only([[10, 0, 0, 1], [10, 0, 0, 2]]))
        #expect(try PeerPolicy.parse("::ffff:10.0.0.1") == .only([[10, 0, 0, 1]]))
        #expect(throws: FastCGIServerError.self) { try PeerPolicy.parse("10.0.0.1,") }
        #expect(throws: FastCGIServerError.self) { try PeerPolicy.parse("edge.example") }
        #expect(throws: FastCGIServerError.self) { try PeerPolicy.parse(" ") }
    }

    @Test("accepted TCP connections get keep-alive, TCP_USER_TIMEOUT and I/O timeouts; the I/O bound exceeds nginx's upstream keepalive_timeout")
    func tcpOptions() throws {
        let timeouts = TCPConnectionTimeouts.standard
        let (server, client) = try Self.loopbackPair()
        defer { close(server); close(client) }
        #expect(timeouts.apply(to: server))
        func option(_ level: Int32, _ name: Int32) -> Int32 {
            var value: Int32 = -1
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(server, level, name, &value, &length)
            return value
        }
        func timeout(_ name: Int32) -> Int {
            var value = timeval()
            var length = socklen_t(MemoryLayout<timeval>.size)
            getsockopt(server, SOL_SOCKET, name, &value, &length)
            return value.tv_sec
        }
        let tcp = Int32(IPPROTO_TCP)
        #expect(option(SOL_SOCKET, SO_KEEPALIVE) == 1)
        #expect(option(tcp, TCP_KEEPIDLE) == timeouts.keepAliveIdleSeconds)
        #expect(option(tcp, TCP_KEEPINTVL) == timeouts.keepAliveIntervalSeconds)
        #expect(option(tcp, TCP_KEEPCNT) == timeouts.keepAliveProbes)
        #expect(option(tcp, TCP_USER_TIMEOUT) == timeouts.userTimeoutSeconds * 1000)
        #expect(option(tcp, TCP_NODELAY) == 1)
        #expect(timeout(SO_RCVTIMEO) == Int(timeouts.ioTimeoutSeconds))
        #expect(timeout(SO_SNDTIMEO) == Int(timeouts.ioTimeoutSeconds))
        // A vanished peer is found by the probes well before the I/O bound.
        #expect(timeouts.keepAliveIdleSeconds + timeouts.keepAliveIntervalSeconds * timeouts.keepAliveProbes < timeouts.ioTimeoutSeconds)

        let template = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("nginx/nginx.conf.template")
        let text = try String(contentsOf: template, encoding: .utf8)
        let upstream = try #require(text.range(of: "upstream music_workers"))
        let line = try #require(text[upstream.upperBound...].split(separator: "\n").first { $0.contains("keepalive_timeout") })
        let seconds = try #require(Int32(line.filter(\.isNumber)))
        #expect(timeouts.ioTimeoutSeconds > seconds)
    }

    /// A port free on 127.0.0.1 a moment ago.
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw FastCGIClient.Failure(description: "no free port") }
        return UInt16(bigEndian: address.sin_port)
    }

    /// An accepted TCP connection on loopback and its client end.
    static func loopbackPair() throws -> (Int32, Int32) {
        let port = try freePort()
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, size) == 0 && listen(listener, 1) == 0 }
        }
        guard listening else { throw FastCGIClient.Failure(description: "cannot listen on \(port)") }
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, size) == 0 }
        }
        guard connected else { throw FastCGIClient.Failure(description: "cannot connect to \(port)") }
        return (accept(listener, nil, nil), client)
    }
}
