import Foundation
import MetricsTestKit
import MusicCore
@testable import MusicPostgres
import StoreTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What a failover does to the store, on the run's real PostgreSQL server
/// (MUSIC_TEST_DATABASE_URL on a unix socket): several hosts in the URL, some
/// silent or read-only, sessions ended by the server or turned read-only.
@Suite("PostgreSQL failover", .enabled(if: TestDatabase.postgresSocket != nil), .timeLimit(.minutes(1)))
struct PostgresFailoverTests {
    let database: TestDatabase
    let url: String
    let schema: String
    /// The real server's unix socket folder and port, as libpq's host and port.
    let server: (host: String, port: String)
    /// The application name of the stores made here (the test database's own
    /// store uses the schema's name): their sessions only are terminated.
    var applicationName: String { schema + "_ha" }
    let metrics = TestMetrics()

    init() throws {
        database = try TestDatabase()
        guard case .postgres(let url, let schema) = database.kind, let socket = TestDatabase.postgresSocket else {
            throw CancellationError()
        }
        self.url = url
        self.schema = schema
        let file = (socket as NSString).lastPathComponent
        server = ((socket as NSString).deletingLastPathComponent, String(file.dropFirst(".s.PGSQL.".count)))
    }

    /// The run's URL with `hosts` as its host and port lists, and `parameters` added.
    func url(hosts: [(host: String, port: String)], _ parameters: String) throws -> String {
        var components = try #require(URLComponents(string: url))
        var items = (components.queryItems ?? []).filter { $0.name != "host" && $0.name != "port" }
        items.append(URLQueryItem(name: "host", value: hosts.map(\.host).joined(separator: ",")))
        items.append(URLQueryItem(name: "port", value: hosts.map(\.port).joined(separator: ",")))
        components.queryItems = items
        return try #require(components.string) + "&" + parameters
    }

    func store(_ url: String, connections: Int) throws -> PostgresStore {
        try PostgresStore(url: url, schema: schema, connections: connections, applicationName: applicationName,
                          migrate: false, metrics: metrics)
    }

    func counter(_ label: String) throws -> Int64 { try metrics.expectCounter(label).totalValue }

    func insertOrganization(_ store: any Store, _ name: String) throws {
        _ = try AdminService(store: store).createOrganization(name: name)
    }

    /// The server processes of this test's stores, now.
    func backends() throws -> Set<String> {
        Set(try database.outsideQuery("SELECT pid FROM pg_stat_activity WHERE application_name = '\(applicationName)'")
            .split(separator: "\n").map(String.init))
    }

    /// Ends every session of this test's stores, as a server restart or a
    /// failover does (SQLSTATE 57P01 to each); waits until each has exited.
    @discardableResult
    func terminateSessions() throws -> Int {
        Int(try database.outsideQuery("""
            SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_stat_activity
            WHERE application_name = '\(applicationName)'
            """)) ?? 0
    }

    /// Runs `count` writes at once, each holding its connection until all are
    /// inside: the pool hands out (or opens) `count` different connections.
    func concurrentWrites(_ store: PostgresStore, count: Int) -> [(any Error)?] {
        let inside = DispatchGroup()
        let release = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        let errors = LockedErrors(count: count)
        for index in 0..<count {
            inside.enter()
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                var entered = false
                do {
                    try store.write { writer in
                        _ = try writer.organization(id: "org_00000000none")
                        if !entered {
                            entered = true
                            inside.leave()
                        }
                        _ = release.wait(timeout: .now() + 20)
                    }
                } catch {
                    errors.set(index, error)
                }
                if !entered { inside.leave() }
            }
        }
        _ = inside.wait(timeout: .now() + 20)
        for _ in 0..<count { release.signal() }
        _ = done.wait(timeout: .now() + 20)
        return errors.all
    }

    @Test("a first host that accepts and never answers costs one connect_timeout; the next reconnection goes straight to the host that answered")
    func silentFirstHost() throws {
        let silent = try SilentListener()
        let multiHost = try url(hosts: [("127.0.0.1", String(silent.port)), server], "connect_timeout=2&target_session_attrs=read-write")
        var store: PostgresStore?
        let first = timed {
            store = try self.store(multiHost, connections: 2)
            try insertOrganization(store!, "first")
        }
        #expect(first.error == nil, "\(String(describing: first.error))")
        // libpq's connect_timeout is 2 s: the silent host is given that, then the server answers.
        #expect(first.seconds >= 1.9 && first.seconds < 4, "first connection took \(first.seconds) s")
        let opened = try #require(store)

        #expect(try terminateSessions() >= 1)
        let again = timed { try insertOrganization(opened, "again") }
        #expect(again.error == nil, "\(String(describing: again.error))")
        #expect(again.seconds < 0.5, "the reconnection took \(again.seconds) s: the silent host was tried again")
        #expect(try counter(PostgresMetrics.reconnectsName) == 1)
        print("failover connect with a silent first host: \(first.seconds) s; remembered host: \(again.seconds) s")
    }

    @Test("the host search ends with the transaction's time: silent hosts are not each given connect_timeout past it")
    func hostSearchWithinDeadline() throws {
        let silent = try (0..<2).map { _ in try SilentListener() }
        let hosts = silent.map { ("127.0.0.1", String($0.port)) } + [server]
        // No schema: nothing connects before the transaction, whose 3 s bound the search runs under.
        let store = try PostgresStore(url: try url(hosts: hosts, "connect_timeout=2&music_transaction_timeout_ms=3000"),
                                      connections: 1, applicationName: applicationName, migrate: false, metrics: metrics)
        let cut = timed { try store.ping() }
        #expect(cut.error is StoreUnavailableError, "\(String(describing: cut.error))")
        // 2 s for the first silent host, the 1 s left for the second, none for the server.
        #expect(cut.seconds >= 2.9 && cut.seconds < 3.6, "took \(cut.seconds) s")
    }

    @Test("a host whose sessions are read-only is refused under target_session_attrs=read-write, and not tried first again")
    func readOnlyHostRefused() throws {
        // The same server through a TCP proxy that asks for read-only sessions:
        // the server itself reports default_transaction_read_only=on, as a standby's sessions are.
        let readOnly = try StartupProxy(unixSocket: server.host + "/.s.PGSQL." + server.port, readOnly: true)
        let multiHost = try url(hosts: [("127.0.0.1", String(readOnly.port)), server],
                                "connect_timeout=2&target_session_attrs=read-write&sslmode=disable")
        let store = try store(multiHost, connections: 2)
        try insertOrganization(store, "written")
        #expect(readOnly.sessionsAsked() >= 1) // libpq tried it first and refused it
        let asked = readOnly.sessionsAsked()
        #expect(try terminateSessions() >= 1)
        try insertOrganization(store, "after")
        #expect(readOnly.sessionsAsked() == asked, "the read-only host was tried again first")
    }

    @Test("a session turned read-only (SQLSTATE 25006) fails its write with StoreUnavailableError and is reset before its next use")
    func sessionTurnedReadOnly() throws {
        let store = try store(url, connections: 1)
        try insertOrganization(store, "before")
        let before = try backends()
        // What ALTER SYSTEM SET default_transaction_read_only = on and a reload do
        // to every session of a fenced or demoted primary, for this session only
        // (the server is shared with tests running meanwhile).
        try store.write { writer in
            try (writer as! PostgresTransaction).connection.execute(simple: "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        }
        let refused = timed {
            try store.write { writer in
                _ = try writer.organization(id: "org_00000000none") // a read runs: the write is not the first statement
                try writer.insert(Organization(id: "org_0000000000ro", name: "ro", createdAt: .init(secondsSince1970: 0)))
            }
        }
        #expect(refused.error is StoreUnavailableError, "\(String(describing: refused.error))")
        try insertOrganization(store, "after")
        // The old session's server process exits once the store has closed it.
        #expect(try eventually { try backends().isDisjoint(with: before) }, "the read-only session was used again")
        #expect(try database.outsideQuery("SELECT count(*) FROM organizations WHERE id = 'org_0000000000ro'") == "0")
    }

    @Test("a session turned read-only is replaced at once when its transaction's first statement is the write: nothing ran, no error")
    func readOnlyAtFirstStatement() throws {
        let store = try store(url, connections: 1)
        try store.write { writer in
            try (writer as! PostgresTransaction).connection.execute(simple: "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        }
        try store.write { writer in
            try writer.insert(Organization(id: "org_000000000rw1", name: "rw", createdAt: .init(secondsSince1970: 0)))
        }
        #expect(try database.outsideQuery("SELECT count(*) FROM organizations WHERE id = 'org_000000000rw1'") == "1")
        #expect(try counter(PostgresMetrics.reconnectsName) == 1)
    }

    @Test("a failover that leaves only a read-only server (a standby, no target_session_attrs): a write answers StoreUnavailableError")
    func readOnlyServer() throws {
        let proxy = try StartupProxy(unixSocket: server.host + "/.s.PGSQL." + server.port, readOnly: false)
        let store = try store(try url(hosts: [("127.0.0.1", String(proxy.port))], "sslmode=disable"), connections: 1)
        try insertOrganization(store, "before")
        proxy.turnReadOnly()
        #expect(try terminateSessions() == 1)
        // The session is found lost and reopened (nothing ran), then the new one is read-only.
        let refused = timed { try insertOrganization(store, "never") }
        #expect(refused.error is StoreUnavailableError, "\(String(describing: refused.error))")
        #expect(refused.seconds < 2)
    }

    @Test("every pooled session ended by the server (57P01): the next writes succeed, the idle connections are each reset once before use")
    func allSessionsTerminated() throws {
        let size = 4
        let store = try store(url, connections: size)
        #expect(concurrentWrites(store, count: size).allSatisfy { $0 == nil })
        let before = try backends()
        #expect(before.count == size)
        #expect(try terminateSessions() == size)

        try insertOrganization(store, "first after") // finds its session gone, reopens it
        #expect(try counter(PostgresMetrics.reconnectsName) == 1)
        let errors = concurrentWrites(store, count: size)
        #expect(errors.allSatisfy { $0 == nil }, "\(errors)")
        #expect(try counter(PostgresMetrics.reconnectsName) == 1)
        #expect(try counter(PostgresMetrics.generationResetsName) == Int64(size - 1))
        let after = try backends()
        #expect(after.count == size && after.isDisjoint(with: before))
        // Settled: no further resets.
        _ = concurrentWrites(store, count: size)
        #expect(try counter(PostgresMetrics.generationResetsName) == Int64(size - 1))
    }

    @Test("a statement cut off by the transaction's deadline on a live server leaves the pool's other sessions alone")
    func slowStatementLeavesPoolAlone() throws {
        let size = 3
        let store = try store(url + "&music_transaction_timeout_ms=1000", connections: size)
        #expect(concurrentWrites(store, count: size).allSatisfy { $0 == nil })
        let cut = timed {
            try store.read { reader in
                _ = try (reader as! PostgresTransaction).connection.query("SELECT pg_sleep(3)", []) { _ in 0 }
            }
        }
        #expect(cut.error is StoreUnavailableError, "\(String(describing: cut.error))")
        // The abandoned session reopens on the same server: a slow server, not a gone one.
        #expect(concurrentWrites(store, count: size).allSatisfy { $0 == nil })
        #expect(try counter(PostgresMetrics.reconnectsName) == 1)
        #expect(try counter(PostgresMetrics.generationResetsName) == 0)
    }

    @Test("a write inside a READ ONLY transaction on a primary (25006) is the transaction's error: the session is kept, nothing reruns")
    func readOnlyTransactionOnPrimary() throws {
        let store = try store(url, connections: 1)
        try insertOrganization(store, "before")
        let before = try backends()
        #expect(throws: PostgresError.self) {
            try store.read { reader in
                try (reader as! PostgresTransaction).connection.execute(simple: "CREATE TEMP TABLE refused (a int)")
            }
        }
        try insertOrganization(store, "after")
        #expect(try backends() == before)
        #expect(try counter(PostgresMetrics.reconnectsName) == 0)
    }

    @Test("a primary cut off (a frozen link): one transaction pays the deadline, the idle connections move to the other host before use")
    func partitionedPrimary() throws {
        let proxy = try FreezableProxy(unixSocket: server.host + "/.s.PGSQL." + server.port)
        let multiHost = try url(hosts: [("127.0.0.1", String(proxy.port)), server],
                                "connect_timeout=2&sslmode=disable&music_transaction_timeout_ms=3000")
        let size = 3
        let store = try store(multiHost, connections: size)
        #expect(concurrentWrites(store, count: size).allSatisfy { $0 == nil })
        proxy.freeze()
        let cut = timed { try insertOrganization(store, "cut") }
        #expect(cut.error is StoreUnavailableError)
        #expect(cut.seconds < 3.5, "took \(cut.seconds) s")
        // The abandoned connection: the frozen host's 2 s, then the server.
        let next = timed { try insertOrganization(store, "next") }
        #expect(next.error == nil, "\(String(describing: next.error))")
        #expect(next.seconds < 3, "took \(next.seconds) s")
        // The idle ones, opened before the cut: reset before use, straight to the server.
        let start = Date()
        let errors = concurrentWrites(store, count: size)
        #expect(errors.allSatisfy { $0 == nil }, "\(errors)")
        #expect(Date().timeIntervalSince(start) < 1.5)
        #expect(try counter(PostgresMetrics.generationResetsName) == Int64(size - 1))
    }
}

@Suite("PostgreSQL host lists")
struct PostgresHostListTests {
    @Test("host lists as libpq reads them: one port for all, a port each, hostaddr, and mismatched lists refused")
    func hostLists() throws {
        let two = try PostgresConnectionSettings(url: "postgresql://u@db1,db2:5433/music?target_session_attrs=read-write")
        #expect(two.hosts == [PostgresHost(host: "db1", port: ""), PostgresHost(host: "db2", port: "5433")])
        let second = Dictionary(uniqueKeysWithValues: zip(two.parameters(forHost: 1).keywords, two.parameters(forHost: 1).values))
        #expect(second["host"] == "db2" && second["port"] == "5433" && second["target_session_attrs"] == "read-write")
        #expect(two.hostOrder(preferred: 1) == [1, 0])
        let shared = try PostgresConnectionSettings(url: "host=a,b,c port=6432 dbname=m")
        #expect(shared.hosts.map(\.port) == ["6432", "6432", "6432"])
        #expect(shared.hostOrder(preferred: 2) == [2, 0, 1])
        let addresses = try PostgresConnectionSettings(url: "hostaddr=10.0.0.1,10.0.0.2 dbname=m")
        #expect(addresses.hosts == [PostgresHost(hostaddr: "10.0.0.1"), PostgresHost(hostaddr: "10.0.0.2")])
        let single = try PostgresConnectionSettings(url: "postgresql://u@db1/music")
        #expect(single.hosts.isEmpty && single.hostOrder(preferred: 0) == [nil])
        #expect(throws: StoreUnavailableError.self) { try PostgresConnectionSettings(url: "host=a,b port=1,2,3") }
        #expect(throws: StoreUnavailableError.self) { try PostgresConnectionSettings(url: "host=a,b hostaddr=10.0.0.1") }
    }
}

/// Polls `condition` until it holds or `seconds` pass.
private func eventually(within seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}

/// Errors by thread, collected under a lock.
private final class LockedErrors: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [(any Error)?]
    init(count: Int) { errors = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ error: any Error) { lock.withLock { errors[index] = error } }
    var all: [(any Error)?] { lock.withLock { errors } }
}

/// A TCP listener on 127.0.0.1 that never accepts and never reads: the kernel
/// completes each handshake, and the client's first message waits forever, as
/// a host whose PostgreSQL hangs does.
private final class SilentListener {
    let port: Int
    private let socket: Int32

    init() throws {
        let listener = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) }
        }
        guard bound == 0, listen(listener, 16) == 0 else {
            close(listener)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "cannot listen on 127.0.0.1"])
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        socket = listener
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(socket) }
}

/// A TCP forwarder on 127.0.0.1 to the server's unix socket that rewrites each
/// session's startup message: when read-only (from the start, or after
/// `turnReadOnly`), it asks for
/// `default_transaction_read_only=on`, so the server reports the session
/// read-only (as a standby's are) and refuses its writes with SQLSTATE 25006.
/// It answers SSL and GSS requests "no". A small Python process, ended on deinit.
private final class StartupProxy: @unchecked Sendable {
    var port: Int { helper.port }
    private let helper: ScriptProcess

    static let script = #"""
import socket, struct, sys, threading
target, read_only = sys.argv[1], sys.argv[2] == "1"
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(64)
print(server.getsockname()[1], flush=True)
lock = threading.Lock()
sessions = [0]
def exactly(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data
def pump(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    for end in (source, sink):
        try:
            end.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def handle(client):
    try:
        while True:
            (length,) = struct.unpack("!I", exactly(client, 4))
            body = exactly(client, length - 4)
            (code,) = struct.unpack("!I", body[:4])
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                client.sendall(b"N")
                continue
            break
        if code == 196608:  # protocol 3.0 startup: key\0value\0...\0
            with lock:
                sessions[0] += 1
            with lock:
                rewrite = read_only
            if rewrite:
                fields = body[4:].split(b"\0")
                pairs = [(fields[i], fields[i + 1]) for i in range(0, len(fields) - 1, 2) if fields[i]]
                pairs = [(k, v) for k, v in pairs if k != b"options"]
                pairs.append((b"options", b"-c default_transaction_read_only=on"))
                body = body[:4] + b"".join(k + b"\0" + v + b"\0" for k, v in pairs) + b"\0"
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(target)
        upstream.sendall(struct.pack("!I", len(body) + 4) + body)
        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
    except OSError:
        client.close()
def serve():
    while True:
        client, _ = server.accept()
        threading.Thread(target=handle, args=(client,), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
for line in sys.stdin:
    with lock:
        if line.strip() == "sessions":
            print(sessions[0], flush=True)
        elif line.strip() == "read-only":
            read_only = True
            print("ok", flush=True)
"""#

    init(unixSocket: String, readOnly: Bool) throws {
        helper = try ScriptProcess(script: Self.script, arguments: [unixSocket, readOnly ? "1" : "0"])
    }

    /// From now on, sessions are asked read-only (open ones stay as they are).
    func turnReadOnly() {
        _ = helper.ask("read-only")
    }

    /// Startup messages the proxy has passed on (sessions asked for).
    func sessionsAsked() -> Int {
        Int(helper.ask("sessions")) ?? -1
    }
}
