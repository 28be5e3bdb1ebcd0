import CoreMetrics
import FastCGI
import Foundation
import HTTPTypes
import Logging
import Prometheus
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A request server and its metrics endpoint in this process, as music-fcgi runs
/// them: the request server's handles in a registry of their own, the endpoint a
/// second FastCGIServer with one thread on its own socket, counting nothing.
final class MeteredServers {
    let directory: String
    let requestSocket: String
    let metricsSocket: String
    let registry = PrometheusCollectorRegistry()
    let responder = StubResponder()
    let server: FastCGIServer
    let endpoint: FastCGIServer
    private let ended = DispatchSemaphore(value: 0)
    /// Connections the request server accepted before the test began: the probe that waited for it to listen.
    private(set) var probes: Double = 0

    init(threads: Int, backlog: Int32 = 16, keptAlive: KeptAliveConnections = .park) throws {
        directory = "/tmp/fastcgi-metrics-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        requestSocket = directory + "/server.sock"
        metricsSocket = directory + "/metrics.sock"
        let quiet = Logger(label: "fastcgi-metrics-test") { _ in SwiftLogNoOpLogHandler() }
        server = FastCGIServer(
            configuration: .init(socket: .unix(path: requestSocket), threads: threads, backlog: backlog, drainTimeoutSeconds: 3,
                                 keptAlive: keptAlive),
            responder: responder, logger: quiet,
            metricsFactory: PrometheusMetricsFactory(registry: registry))
        let (server, registry) = (server, registry)
        endpoint = FastCGIServer(
            configuration: .init(socket: .unix(path: metricsSocket), threads: 1, maxBodyBytes: 0, drainTimeoutSeconds: 1,
                                 keptAlive: .bind),
            responder: MetricsResponder(exposition: {
                server.sampleMetrics()
                return registry.emitToBuffer()
            }, otherwise: StubResponder()),
            logger: quiet, metricsFactory: NOOPMetricsHandler.instance)
        for each in [server, endpoint] {
            let ended = ended
            Thread {
                try? each.run()
                ended.signal()
            }.start()
        }
        for path in [requestSocket, metricsSocket] {
            guard WorkerProcess.await(timeout: 10, { (try? FastCGIClient(socketPath: path)) != nil }) else {
                throw FastCGIClient.Failure(description: "no listener on \(path)")
            }
        }
        probes = try scrape(until: { $0["music_worker_connections_accepted_total"] == 1 })["music_worker_connections_accepted_total"] ?? 0
    }

    /// A scrape of the metrics socket: its status and the samples by series.
    func scrape() throws -> (status: Int, contentType: String?, samples: [String: Double]) {
        let response = try FastCGIClient(socketPath: metricsSocket).request(
            InProcessServerTests.params("GET", "/internal/metrics/worker-0"))
        return (response.status, response.headers["content-type"], Self.samples(response.text))
    }

    /// `name value` lines of the text exposition format.
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    /// Polls scrapes until `condition` holds; the last samples either way.
    func scrape(until condition: ([String: Double]) -> Bool, timeout: Double = 10) throws -> [String: Double] {
        var last: [String: Double] = [:]
        _ = WorkerProcess.await(timeout: timeout) {
            last = (try? scrape().samples) ?? [:]
            return condition(last)
        }
        return last
    }

    /// Sends a `/block` request and waits until the responder holds it.
    func holdThread() throws -> FastCGIClient {
        let client = try FastCGIClient(socketPath: requestSocket)
        try client.sendBegin()
        try client.sendParams(InProcessServerTests.params("GET", "/block"))
        try client.sendStdin([])
        guard responder.blockedEntered.wait(timeout: .now() + 10) == .success else {
            throw FastCGIClient.Failure(description: "the /block request did not reach the responder")
        }
        return client
    }

    deinit {
        for _ in 0..<8 { responder.release() }
        server.shutdown()
        endpoint.shutdown()
        _ = ended.wait(timeout: .now() + 10)
        _ = ended.wait(timeout: .now() + 10)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite("Metrics: the endpoint on its own socket, the worker loop's figures", .serialized)
struct MetricsEndpointTests {
    @Test("a scrape is answered while every request thread is busy; it shows them busy, the saturation and the connection waiting in the backlog")
    func scrapeWhileSaturated() throws {
        let servers = try MeteredServers(threads: 2, backlog: 16)
        var held = try [servers.holdThread(), servers.holdThread()]
        // A third request: no thread is free, it waits in the listening socket's backlog.
        let waiting = try FastCGIClient(socketPath: servers.requestSocket)
        try waiting.sendBegin()
        try waiting.sendParams(InProcessServerTests.params("GET", "/echo"))
        try waiting.sendStdin([])
        #expect(!waiting.peerCloses(within: 0.2), "the third request is answered although both threads are held")

        let first = try servers.scrape()
        #expect(first.status == 200)
        #expect(first.contentType == MetricsResponder.contentType)
        let samples = try servers.scrape(until: { $0["music_worker_listen_backlog"] == 1 })
        #expect(samples["music_worker_threads"] == 2)
        #expect(samples["music_worker_threads_busy"] == 2)
        #expect(samples["music_worker_threads_busy_max"] == 2)
        #expect(samples["music_worker_threads_keepalive"] == 0)
        #expect(samples["music_worker_saturated_total"] == 1, "the second request took the last thread in accept")
        #expect(samples["music_worker_requests_total"] == 2)
        #expect(samples["music_worker_connections_accepted_total"] == servers.probes + 2)
        #expect(samples["music_worker_listen_backlog"] == 1)
        #expect(samples["music_worker_listen_backlog_limit"] == 16)

        for _ in held { servers.responder.release() }
        for client in held { #expect(try client.readResponse().text == "released") }
        // Closed: libfcgi lingers up to 2 s in close() until the client closes its side.
        held.removeAll()
        #expect(try waiting.readResponse().status == 200)
        let after = try servers.scrape(until: { $0["music_worker_threads_busy"] == 0 && $0["music_worker_requests_total"] == 3 })
        #expect(after["music_worker_threads_busy"] == 0)
        #expect(after["music_worker_threads_busy_max"] == 2)
        #expect(after["music_worker_requests_total"] == 3, "scrapes counted as requests of the worker")
        #expect(after["music_worker_connections_accepted_total"] == servers.probes + 3)
        #expect(after["music_worker_listen_backlog"] == 0)
    }

    @Test("parked, an idle kept-alive connection holds no thread: counted as keepalive; with one thread busy the other still waits for work")
    func parkedKeptAlive() throws {
        let servers = try MeteredServers(threads: 2)
        let kept = try FastCGIClient(socketPath: servers.requestSocket)
        #expect(try kept.request(InProcessServerTests.params("GET", "/echo"), keepConnection: true).status == 200)
        let idle = try servers.scrape(until: { $0["music_worker_threads_keepalive"] == 1 })
        #expect(idle["music_worker_threads_busy"] == 0)
        let held = try servers.holdThread()
        let busy = try servers.scrape()
        #expect(busy.samples["music_worker_threads_busy"] == 1)
        #expect(busy.samples["music_worker_threads_keepalive"] == 1)
        #expect(busy.samples["music_worker_saturated_total"] == 0, "the parked connection holds no thread: one is free")
        servers.responder.release()
        #expect(try held.readResponse().status == 200)
        #expect(try kept.request(InProcessServerTests.params("GET", "/echo"), keepConnection: true).status == 200)
        let again = try servers.scrape(until: { $0["music_worker_requests_total"] == 3 })
        #expect(again["music_worker_connections_accepted_total"] == servers.probes + 2)
    }

    @Test("bind: an idle kept-alive connection holds a thread: counted as keepalive, not busy; the next request on a fresh connection finds no thread in accept")
    func keptAliveThread() throws {
        let servers = try MeteredServers(threads: 2, keptAlive: .bind)
        let kept = try FastCGIClient(socketPath: servers.requestSocket)
        #expect(try kept.request(InProcessServerTests.params("GET", "/echo"), keepConnection: true).status == 200)
        let idle = try servers.scrape(until: { $0["music_worker_threads_keepalive"] == 1 })
        #expect(idle["music_worker_threads_keepalive"] == 1)
        #expect(idle["music_worker_threads_busy"] == 0)
        #expect(idle["music_worker_saturated_total"] == 0, "one of two threads was in accept")

        let held = try servers.holdThread()
        let busy = try servers.scrape()
        #expect(busy.samples["music_worker_threads_busy"] == 1)
        #expect(busy.samples["music_worker_saturated_total"] == 1, "the kept-alive thread and the busy one left none in accept")
        servers.responder.release()
        #expect(try held.readResponse().status == 200)

        // The next request on the kept-alive connection: counted, and the thread no longer kept alive while it runs.
        #expect(try kept.request(InProcessServerTests.params("GET", "/echo"), keepConnection: true).status == 200)
        let again = try servers.scrape(until: { $0["music_worker_requests_total"] == 3 })
        #expect(again["music_worker_requests_total"] == 3)
        #expect(again["music_worker_connections_accepted_total"] == servers.probes + 2)
    }

    @Test("the endpoint answers GET only; another method goes to the fallback responder; its own requests do not count")
    func endpointMethods() throws {
        let servers = try MeteredServers(threads: 1)
        let post = try FastCGIClient(socketPath: servers.metricsSocket).request(
            InProcessServerTests.params("POST", "/internal/metrics/worker-0", contentLength: "0"))
        #expect(post.headers["x-method"] == "POST", "a POST reached the fallback responder")
        for _ in 0..<3 { _ = try servers.scrape() }
        let samples = try servers.scrape().samples
        #expect(samples["music_worker_requests_total"] == 0)
        #expect(samples["music_worker_connections_accepted_total"] == servers.probes)
    }

    @Test("the listen backlog as Linux reports it, for a unix and a TCP listening socket")
    func listenBacklog() throws {
        // Unix: a listening socket nobody accepts on, two connections waiting.
        let directory = "/tmp/fastcgi-backlog-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/listen.sock"
        let unixListener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(unixListener) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
            raw[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(unixListener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        #expect(listen(unixListener, 7) == 0)
        #expect(ListenBacklog.read(unixListener).map { [$0.waiting, $0.limit] } == [0, 7])
        let unixClients = try (0..<2).map { _ in try FastCGIClient(socketPath: path) }
        #expect(ListenBacklog.read(unixListener).map { [$0.waiting, $0.limit] } == [2, 7])
        _ = unixClients

        // TCP on loopback, an ephemeral port.
        let tcpListener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(tcpListener) }
        var inet = sockaddr_in()
        inet.sin_family = sa_family_t(AF_INET)
        inet.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let tcpBound = withUnsafeMutablePointer(to: &inet) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(tcpListener, $0, length) == 0 && getsockname(tcpListener, $0, &length) == 0
            }
        }
        #expect(tcpBound)
        #expect(listen(tcpListener, 5) == 0)
        let port = UInt16(bigEndian: inet.sin_port)
        let tcpClients = try (0..<3).map { _ in try FastCGIClient(tcpHost: "127.0.0.1", port: port, source: "127.0.0.1") }
        // The handshake completes in the kernel: wait until all three are queued.
        var last: (waiting: UInt32, limit: UInt32)?
        #expect(WorkerProcess.await(timeout: 5) {
            last = ListenBacklog.read(tcpListener)
            return last?.waiting == 3
        })
        #expect(last.map { [$0.waiting, $0.limit] } == [3, 5])
        _ = tcpClients

        // Not a listening socket: nothing reported.
        #expect(ListenBacklog.read(unixClients[0].fd) == nil)
    }

    @Test("process figures from /proc/self: memory, CPU, descriptors, start time")
    func processMetrics() throws {
        let registry = PrometheusCollectorRegistry()
        let process = ProcessMetrics(factory: PrometheusMetricsFactory(registry: registry))
        let opened = (0..<10).map { _ in open("/dev/null", O_RDONLY) }
        defer { for fd in opened { close(fd) } }
        process.sample()
        let samples = MeteredServers.samples(registry.emitToString())
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        #expect(samples["process_max_fds"] == Double(limit.rlim_cur))
        let openFDs = try #require(samples["process_open_fds"])
        // Other tests of this process open and close descriptors meanwhile: bounds, not equality.
        #expect(openFDs >= Double(opened.count + 3) && openFDs < Double(limit.rlim_cur), "\(openFDs) open")
        let resident = try #require(samples["process_resident_memory_bytes"])
        #expect(resident > 1_000_000 && resident < 64_000_000_000)
        let started = try #require(samples["process_start_time_seconds"])
        let now = Date().timeIntervalSince1970
        #expect(started <= now + 1 && started > now - 24 * 3600, "started \(started), now \(now)")
        // CPU time only goes up, by what was spent since the last sample.
        let cpuBefore = try #require(samples["process_cpu_seconds_total"])
        // Spin until this thread alone has spent 0.2 s of CPU (wall time says nothing
        // on a loaded machine), within a generous deadline.
        func threadCPU() -> Double {
            var time = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
            return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
        }
        var spin = 0.0
        let spinFrom = threadCPU()
        let deadline = Date().addingTimeInterval(60)
        while threadCPU() < spinFrom + 0.2 && Date() < deadline { spin += sin(spin) + 1 }
        process.sample()
        let cpuAfter = try #require(MeteredServers.samples(registry.emitToString())["process_cpu_seconds_total"])
        #expect(cpuAfter >= cpuBefore + 0.19, "spun 0.2 s of CPU: \(cpuBefore) -> \(cpuAfter) (\(spin > 0))")
    }
}
