import CoreMetrics
import Foundation
import MusicCore
import MusicPostgres
import MusicSQLite

/// A fresh, empty database for one test, on the store the run asks for:
/// SQLite (a new file) by default; PostgreSQL when `MUSIC_TEST_DATABASE_URL`
/// names a server (a new schema in it, dropped afterwards). `deploy/test`
/// runs the store and API suites once each way.
package final class TestDatabase: @unchecked Sendable {
    package enum Kind: Equatable, Sendable {
        case sqlite(path: String)
        case postgres(url: String, schema: String)
    }

    package let kind: Kind
    package let store: any Store
    private let directory: String

    /// The PostgreSQL server the run targets, if any.
    package static var postgresURL: String? {
        ProcessInfo.processInfo.environment["MUSIC_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `metrics`: the factory the store makes its metric handles with (a test's own `TestMetrics`).
    package init(metrics: any MetricsFactory = MetricsSystem.factory) throws {
        directory = NSTemporaryDirectory() + "music-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let url = Self.postgresURL {
            let schema = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            kind = .postgres(url: url, schema: schema)
            store = try PostgresStore(url: url, schema: schema, connections: 8, applicationName: schema, metrics: metrics)
        } else {
            let path = directory + "/music.sqlite"
            kind = .sqlite(path: path)
            store = try SQLiteStore(path: path, metrics: metrics)
        }
    }

    deinit {
        if case .postgres(_, let schema) = kind, let store = store as? PostgresStore { try? store.dropSchema(schema) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Another store on the same data: a second worker process, or a second host.
    package func anotherStore() throws -> any Store {
        switch kind {
        case .sqlite(let path): return try SQLiteStore(path: path)
        case .postgres(let url, let schema): return try PostgresStore(url: url, schema: schema, connections: 8, applicationName: schema)
        }
    }

    /// Another PostgreSQL store on this test's schema, with `parameters` added
    /// to the URL (time bounds) and, with a proxy, reaching the server through it
    /// over TCP. Nil on SQLite.
    package func anotherPostgresStore(parameters: String, through proxy: FreezableProxy? = nil, connections: Int = 4) throws -> PostgresStore? {
        guard case .postgres(let url, let schema) = kind else { return nil }
        var target = url
        if let proxy {
            let database = URLComponents(string: url)?.path.dropFirst() ?? "postgres"
            target = "postgresql://postgres@127.0.0.1:\(proxy.port)/\(database)?sslmode=disable"
        }
        target += (target.contains("?") ? "&" : "?") + parameters
        return try PostgresStore(url: target, schema: schema, connections: connections, applicationName: schema, migrate: false)
    }

    /// The unix socket of the PostgreSQL server the run targets (`host` and `port` of its URL).
    package static var postgresSocket: String? {
        guard let url = postgresURL, let components = URLComponents(string: url) else { return nil }
        let items = components.queryItems ?? []
        guard let host = items.first(where: { $0.name == "host" })?.value ?? (components.host.flatMap { $0.isEmpty ? nil : $0 }),
              host.hasPrefix("/") else { return nil }
        let port = items.first(where: { $0.name == "port" })?.value ?? components.port.map(String.init) ?? "5432"
        return "\(host)/.s.PGSQL.\(port)"
    }

    /// Every byte the database holds, as an outsider would read it: the SQLite
    /// file and its WAL, or `pg_dump` of the schema.
    package func rawContent() throws -> Data {
        switch kind {
        case .sqlite(let path):
            return try Data(contentsOf: URL(fileURLWithPath: path)) + ((try? Data(contentsOf: URL(fileURLWithPath: path + "-wal"))) ?? Data())
        case .postgres(let url, let schema):
            return try Self.run("/usr/bin/pg_dump", ["--schema=\(schema)", "--data-only", "--dbname=\(url)"])
        }
    }

    /// Runs `sql` with the command-line client of the store (sqlite3 or psql): an
    /// outside view of what is stored. Unqualified names resolve in the test's schema.
    package func outsideQuery(_ sql: String) throws -> String {
        let output: Data
        switch kind {
        case .sqlite(let path):
            output = try Self.run("/usr/bin/sqlite3", [path, sql])
        case .postgres(let url, let schema):
            output = try Self.run("/usr/bin/psql", ["--no-psqlrc", "-At", "--dbname=\(url)", "-c", sql],
                                  environment: ["PGOPTIONS": "-c search_path=\(schema)"])
        }
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Data {
        let process = Process()
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "\(executable) exited \(process.terminationStatus)"])
        }
        return data
    }
}

/// A TCP forwarder on 127.0.0.1 to a unix socket (the test server's), that can
/// freeze: stop forwarding in both directions without closing anything, as a
/// silently dropped network link does. A small Python process, ended on deinit.
package final class FreezableProxy: @unchecked Sendable {
    package var port: Int { helper.port }
    private let helper: ScriptProcess

    static let script = #"""
import socket, sys, threading, time
target = sys.argv[1]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(64)
print(server.getsockname()[1], flush=True)
frozen = threading.Event()
def control():
    for line in sys.stdin:
        if line.strip() == "freeze":
            frozen.set()
            print("frozen", flush=True)
    sys.exit(0)
def pump(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            while frozen.is_set():
                time.sleep(3600)
            sink.sendall(data)
    except OSError:
        pass
def serve():
    while True:
        client, _ = server.accept()
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(target)
        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
control()
"""#

    package init(unixSocket: String) throws {
        helper = try ScriptProcess(script: Self.script, arguments: [unixSocket])
    }

    /// Stops forwarding; returns once the proxy confirms.
    package func freeze() {
        _ = helper.ask("freeze")
    }
}

/// A Python script run as a helper process of a test: it prints the port it
/// listens on as its first line, then answers each line of its standard input
/// with one line. Ended with SIGKILL on deinit (the child inherits the test
/// runner's signal mask, in which SIGTERM may be blocked).
package final class ScriptProcess: @unchecked Sendable {
    package let port: Int
    private let process = Process()
    private let control: FileHandle
    private let reader: FileHandle

    package init(script: String, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script] + arguments
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        control = input.fileHandleForWriting
        reader = output.fileHandleForReading
        let line = Self.readLine(reader)
        guard let port = Int(line) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "the helper did not start: \(line)"])
        }
        self.port = port
    }

    /// Sends `line` and returns the helper's answer.
    package func ask(_ line: String) -> String {
        control.write(Data((line + "\n").utf8))
        return Self.readLine(reader)
    }

    private static func readLine(_ handle: FileHandle) -> String {
        var bytes: [UInt8] = []
        while bytes.count < 100 {
            let next = handle.readData(ofLength: 1)
            guard let byte = next.first, byte != UInt8(ascii: "\n") else { break }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// Seconds `body` took, and what it threw.
package func timed(_ body: () throws -> Void) -> (seconds: Double, error: (any Error)?) {
    let start = Date()
    do {
        try body()
        return (Date().timeIntervalSince(start), nil)
    } catch {
        return (Date().timeIntervalSince(start), error)
    }
}
