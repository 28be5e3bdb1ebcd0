import ArgumentParser
import CoreMetrics
import FastCGI
import Foundation
import Logging
import MusicAPI
import MusicStores
import MusicSupport
import Prometheus

@main
struct MusicFCGI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "music-fcgi",
        abstract: "The music collections API as a FastCGI worker.",
        discussion: """
            By default the worker serves the listening socket that spawn-fcgi (or systemd)
            hands it on file descriptor 0. For development it can open its own with
            --socket or --listen.

            Threads: idle kept-alive upstream connections (nginx's `fastcgi_keep_conn on`)
            are parked in one epoll set with the listening socket and hold no thread; a
            free thread takes whichever connection has a request first. With
            MUSIC_KEPT_ALIVE=bind (libfcgi's way, kept to compare) each idle one holds a
            thread: keep --threads above `keepalive` x nginx worker processes plus the
            requests in flight (the shipped nginx config: (16 + 8 + 2) x 2 = 52).
            """,
        version: musicCollectionsVersion
    )

    @Option(help: "Create and serve a unix socket at PATH (mode 0660).")
    var socket: String?

    @Option(help: "Create and serve a TCP socket, HOST:PORT (e.g. 127.0.0.1:9000). Needs FCGI_WEB_SERVER_ADDRS (the web servers allowed to connect, comma-separated) or --allow-any-peer.")
    var listen: String?

    @Flag(help: "Over TCP, serve any peer that can connect (without FCGI_WEB_SERVER_ADDRS). Only behind a firewall that admits the web servers alone.")
    var allowAnyPeer = false

    @Option(help: "Worker threads, each serving one request at a time.")
    var threads: Int = 64

    @Option(help: "SQLite database file (default: $MUSIC_DB, else var/music.sqlite).")
    var db: String?

    @Option(help: "A PostgreSQL URL (postgres://user@host/db?...); selects PostgreSQL instead of SQLite (default: $MUSIC_DATABASE_URL).")
    var databaseURL: String?

    @Option(help: "PostgreSQL connections per worker process (a pool shared by the threads).")
    var databaseConnections: Int = 16

    @Option(help: "The OpenAPI document to serve at /v1/music/openapi.yaml (default: $MUSIC_OPENAPI).")
    var openapi: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    enum MetricsSwitch: String, ExpressibleByArgument { case on, off }

    @Option(name: .customLong("metrics"), help: "Collect metrics (on) or not (off: swift-metrics' no-op handlers and no metrics socket; for the benchmark's comparison). Default: $MUSIC_METRICS, else on.")
    var metricsOption: MetricsSwitch?

    @Option(name: .customLong("metrics-socket"), help: "Serve Prometheus metrics on a unix socket of their own at PATH (mode 0660), answered by one dedicated thread: a scrape never waits behind requests (default: $MUSIC_METRICS_SOCKET).")
    var metricsSocketOption: String?

    @Option(help: "Serve Prometheus metrics on a TCP socket of their own, HOST:PORT (the same peers as --listen: FCGI_WEB_SERVER_ADDRS or --allow-any-peer).")
    var metricsListen: String?

    @Option(name: .customLong("public-url"), help: "The service's public base URL, https://HOST[:PORT][/PATH], that share links are built on (never the Host a client sends). Default: $MUSIC_PUBLIC_URL, else \(PublicURL.defaultValue).")
    var publicURLOption: String?
    @Option(name: .customLong("health-socket"), help: "Answer GET /v1/music/health on a unix socket of its own at PATH (mode 0660), with \(HealthLane.threads) dedicated threads: a load balancer's probe never queues behind the requests waiting for the worker's threads (default: $MUSIC_HEALTH_SOCKET).")
    var healthSocketOption: String?

    // The environment as defaults: the systemd unit names the socket in Environment=,
    // which an older executable ignores (a package's units can come with an older one).
    static let metricsVariable = "MUSIC_METRICS"
    static let metricsSocketVariable = "MUSIC_METRICS_SOCKET"
    static let publicURLVariable = "MUSIC_PUBLIC_URL"
    static let healthSocketVariable = "MUSIC_HEALTH_SOCKET"
    /// park (default) or bind: how kept-alive connections wait (FastCGIServer's
    /// KeptAliveConnections; bind is the earlier way, kept to compare).
    static let keptAliveVariable = "MUSIC_KEPT_ALIVE"

    var keptAlive: KeptAliveConnections {
        ProcessInfo.processInfo.environment[Self.keptAliveVariable].flatMap { $0.isEmpty ? nil : KeptAliveConnections(rawValue: $0) } ?? .park
    }

    var healthSocket: String? {
        // Empty: none (deploy/lib.sh's MUSIC_HEALTH_LANE=off passes "").
        (healthSocketOption ?? ProcessInfo.processInfo.environment[Self.healthSocketVariable]).flatMap { $0.isEmpty ? nil : $0 }
    }

    var metrics: MetricsSwitch {
        metricsOption ?? ProcessInfo.processInfo.environment[Self.metricsVariable].flatMap(MetricsSwitch.init(rawValue:)) ?? .on
    }

    var metricsSocket: String? {
        guard metricsSocketOption == nil, metricsListen == nil else { return metricsSocketOption }
        return ProcessInfo.processInfo.environment[Self.metricsSocketVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The public URL as given (option, else environment, else the default), checked.
    func publicURL() throws -> String {
        let given = publicURLOption ?? ProcessInfo.processInfo.environment[Self.publicURLVariable].flatMap { $0.isEmpty ? nil : $0 }
        do { return try PublicURL.validated(given ?? PublicURL.defaultValue) } catch {
            throw ValidationError("\(publicURLOption != nil ? "--public-url" : Self.publicURLVariable): \(error)")
        }
    }

    func validate() throws {
        _ = try publicURL()
        if metricsOption == nil, let value = ProcessInfo.processInfo.environment[Self.metricsVariable], !value.isEmpty,
           MetricsSwitch(rawValue: value) == nil {
            throw ValidationError("\(Self.metricsVariable) must be on or off, not \(value)")
        }
        if let value = ProcessInfo.processInfo.environment[Self.keptAliveVariable], !value.isEmpty,
           KeptAliveConnections(rawValue: value) == nil {
            throw ValidationError("\(Self.keptAliveVariable) must be park or bind, not \(value)")
        }
        guard threads >= 1, threads <= 1024 else { throw ValidationError("--threads must be between 1 and 1024") }
        guard socket == nil || listen == nil else { throw ValidationError("give --socket or --listen, not both") }
        guard metricsSocket == nil || metricsListen == nil else { throw ValidationError("give --metrics-socket or --metrics-listen, not both") }
        guard databaseConnections >= 1, databaseConnections <= 1024 else { throw ValidationError("--database-connections must be between 1 and 1024") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        do {
            if listen != nil || metricsListen != nil, try peerPolicy() == nil { throw FastCGIServerError.noPeerAllowList }
        } catch let error as FastCGIServerError {
            throw ValidationError(error.description)
        }
    }

    /// The peers allowed over TCP: FCGI_WEB_SERVER_ADDRS (libfcgi's variable) if
    /// set, else any peer with --allow-any-peer, else none (a TCP socket is refused).
    func peerPolicy() throws(FastCGIServerError) -> PeerPolicy? {
        if let list = ProcessInfo.processInfo.environment[PeerPolicy.environmentVariable], !list.isEmpty {
            return try PeerPolicy.parse(list)
        }
        return allowAnyPeer ? .anyPeer : nil
    }

    func run() throws {
        // Before any thread exists (the log flusher, GRDB's queues): see SignalWatcher.
        SignalWatcher.blockTerminationSignals()
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let logBuffer = LogBuffer()
        defer { logBuffer.flush() }
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level, buffer: logBuffer) }
        let logger = Logger(label: "music.fcgi")
        // Before any library makes its handles (the stores, the API, the worker loop).
        let registry = metrics == .on ? MetricsSetup.bootstrap() : nil
        let choice = try StoreChoice.resolve(url: databaseURL, sqlitePath: db)
        let store = try choice.open(connections: databaseConnections)
        logger.info("store opened", metadata: ["database": "\(choice.displayName)"])
        var document: [UInt8]?
        if let openAPIPath = openapi ?? ProcessInfo.processInfo.environment["MUSIC_OPENAPI"] {
            guard let data = FileManager.default.contents(atPath: openAPIPath) else {
                throw ValidationError("cannot read the OpenAPI document \(openAPIPath)")
            }
            document = Array(data)
        }
        let publicURL = try publicURL()
        if PublicURL.isLoopback(publicURL) {
            logger.notice("share links are built on a loopback address: they open on this machine only (set MUSIC_PUBLIC_URL)")
        }
        let api = MusicAPI(store: store, logger: Logger(label: "music.api"), openAPIDocument: document, publicURL: publicURL)

        let listening: ListeningSocket
        if let socket { listening = .unix(path: socket) } else if let listen { listening = .tcp(address: listen) } else { listening = .inherited }
        let peers: PeerPolicy?
        do { peers = try peerPolicy() } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        if peers == .anyPeer {
            logger.warning("--allow-any-peer: over TCP, ANY host that can reach this port can send requests as the web server (set \(PeerPolicy.environmentVariable) instead)")
        }
        let server = FastCGIServer(
            configuration: .init(socket: listening, threads: threads, maxBodyBytes: MusicAPI.maxBodyBytes, peers: peers,
                                 keptAlive: keptAlive),
            responder: MusicResponder(api: api),
            logger: logger
        )
        let metricsEndpoint = registry.flatMap { registry in
            metricsServer(registry: registry, requestServer: server, api: api, peers: peers,
                          disk: DatabaseDiskMetrics(choice: choice))
        }
        if metrics == .off, metricsSocket != nil || metricsListen != nil {
            logger.info("--metrics off: no metrics socket")
        }
        let healthEndpoint = healthSocket.map { path in
            HealthLane.server(socket: path, api: api, requestServer: server)
        }
        SignalWatcher.watch { signal in
            logger.info("signal received", metadata: ["signal": "\(signal)"])
            metricsEndpoint?.shutdown()
            healthEndpoint?.shutdown()
            server.shutdown()
        }
        let healthEnded = DispatchSemaphore(value: 0)
        if let healthEndpoint {
            _ = startThread { [logger] in
                do { try healthEndpoint.run() } catch {
                    logger.error("cannot serve the health socket", metadata: ["error": "\(error)"])
                }
                healthEnded.signal()
            }
        }
        let metricsEnded = DispatchSemaphore(value: 0)
        if let metricsEndpoint {
            // Its own thread: run() blocks until the endpoint stops.
            _ = startThread { [logger] in
                do { try metricsEndpoint.run() } catch {
                    logger.error("cannot serve metrics", metadata: ["error": "\(error)"])
                }
                metricsEnded.signal()
            }
        }
        do {
            try server.run()
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        if let metricsEndpoint {
            metricsEndpoint.shutdown()
            _ = metricsEnded.wait(timeout: .now() + 2)
            if let metricsSocket { unlink(metricsSocket) }
        }
        if let healthEndpoint, let healthSocket {
            healthEndpoint.shutdown()
            _ = healthEnded.wait(timeout: .now() + 2)
            unlink(healthSocket)
        }
        if let socket { unlink(socket) }
    }
}

extension MusicFCGI {
    /// The metrics endpoint: a FastCGI server of its own, one thread, on its own
    /// socket, so a scrape is answered while every request thread is busy. Its own
    /// requests do not count in the worker loop's figures (no-op handles).
    func metricsServer(registry: PrometheusCollectorRegistry, requestServer: FastCGIServer, api: MusicAPI,
                       peers: PeerPolicy?, disk: DatabaseDiskMetrics?) -> FastCGIServer? {
        let listening: ListeningSocket
        if let metricsSocket { listening = .unix(path: metricsSocket) } else if let metricsListen { listening = .tcp(address: metricsListen) } else { return nil }
        let responder = MetricsResponder(
            exposition: MetricsSetup.exposition(registry: registry, server: requestServer, process: ProcessMetrics(), disk: disk),
            otherwise: MusicResponder(api: api))
        return FastCGIServer(
            // bind: the one thread reads each connection, so the I/O timeout closes a
            // peer that connects and sends nothing (nginx keeps no connection here).
            configuration: .init(socket: listening, threads: 1, maxBodyBytes: 0, backlog: 64,
                                 drainTimeoutSeconds: 1, peers: peers, connectionIOTimeoutSeconds: 2,
                                 keptAlive: .bind),
            responder: responder,
            logger: Logger(label: "music.metrics"),
            metricsFactory: NOOPMetricsHandler.instance)
    }
}
