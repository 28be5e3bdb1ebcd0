import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real `music-fcgi` process on a temporary unix socket, with demo data.
final class WorkerProcess {
    let directory: String
    let socketPath: String
    let process = Process()
    let organizationID: String
    let apiKey: String

    static var binDirectory: String {
        if let dir = ProcessInfo.processInfo.environment["MUSIC_BIN_DIR"] { return dir }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    }

    init(threads: Int = 16) throws {
        directory = "/tmp/music-fcgi-test-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socketPath = directory + "/worker.sock"
        let db = directory + "/music.sqlite"
        (organizationID, apiKey) = try Self.demo(db: db)
        ownsDirectory = true
        try start(["--socket", socketPath, "--db", db, "--threads", String(threads), "--log-level", "warning"])
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socketPath) { usleep(25_000) }
        guard FileManager.default.fileExists(atPath: socketPath) else { throw FastCGIClient.Failure(description: "the worker did not open its socket") }
    }

    /// A worker serving `listener`'s socket on its file descriptor 0, as spawn-fcgi
    /// and systemd hand it over; the listener (the test) keeps its own descriptor.
    init(threads: Int = 16, inheriting listener: InheritedListener) throws {
        directory = listener.directory
        socketPath = listener.path
        (organizationID, apiKey) = (listener.organizationID, listener.apiKey)
        ownsDirectory = false
        process.standardInput = FileHandle(fileDescriptor: listener.fd, closeOnDealloc: false)
        try start(["--db", listener.database, "--threads", String(threads), "--log-level", "warning"])
    }

    private let ownsDirectory: Bool

    private func start(_ arguments: [String]) throws {
        let worker = Self.binDirectory + "/music-fcgi"
        guard FileManager.default.isExecutableFile(atPath: worker) else {
            throw FastCGIClient.Failure(description: "build music-fcgi first (looked in \(Self.binDirectory))")
        }
        process.executableURL = URL(fileURLWithPath: worker)
        process.arguments = arguments
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
    }

    /// Creates the demo data in `db`; returns its organization and API key.
    static func demo(db: String) throws -> (String, String) {
        let admin = binDirectory + "/music-admin"
        guard FileManager.default.isExecutableFile(atPath: admin) else {
            throw FastCGIClient.Failure(description: "build music-admin first (looked in \(binDirectory))")
        }
        let demo = try run(admin, ["demo", "--db", db, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(demo.utf8)) as? [String: Any] ?? [:]
        return (object["organization_id"] as? String ?? "", object["api_key"] as? String ?? "")
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        if ownsDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }

    func client() throws -> FastCGIClient { try FastCGIClient(socketPath: socketPath) }

    /// Polls `condition` every 20 ms until it holds or `timeout` seconds pass.
    static func await(timeout: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > deadline { return false }
            usleep(20_000)
        }
        return true
    }

    /// How many sockets the worker holds open: its listening socket and the
    /// connections it has accepted and not yet closed. Nil once it has exited.
    func openSockets() -> Int? {
        let directory = "/proc/\(process.processIdentifier)/fd"
        guard process.isRunning, let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        return entries.filter { ((try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/" + $0)) ?? "").hasPrefix("socket:") }.count
    }

    /// Sends SIGTERM.
    func terminate() { kill(process.processIdentifier, SIGTERM) }

    /// Waits for the process to exit; returns its status, or nil after `timeout` seconds.
    func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.arguments = arguments
        let pipe = Pipe()
        child.standardOutput = pipe
        try child.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        child.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// The CGI parameters nginx would send.
    func params(_ method: String, _ uri: String, contentLength: Int? = nil, key: Bool = false, requestID: String = "feedc0de") -> [(String, String)] {
        var params = [("REQUEST_METHOD", method), ("REQUEST_URI", uri), ("REQUEST_ID", requestID)]
        if let contentLength {
            params += [("CONTENT_TYPE", "application/json"), ("CONTENT_LENGTH", String(contentLength))]
        }
        if key { params.append(("HTTP_X_API_KEY", apiKey)) }
        return params
    }
}

/// A listening unix socket the test owns and hands to workers on their fd 0,
/// with a demo database they share.
final class InheritedListener {
    let directory: String
    let path: String
    let database: String
    let fd: Int32
    let organizationID: String
    let apiKey: String

    init() throws {
        directory = "/tmp/music-fcgi-test-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/inherited.sock"
        database = directory + "/music.sqlite"
        (organizationID, apiKey) = try WorkerProcess.demo(db: database)
        // `fd` is set last: see FastCGIClient.init (deinit runs when a throw comes after).
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else {
            try? FileManager.default.removeItem(atPath: directory)
            throw FastCGIClient.Failure(description: "socket() failed")
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = pathBytes
            raw.copyBytes(from: bytes.prefix(raw.count - 1))
            raw[min(bytes.count, raw.count - 1)] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            let error = errno
            close(fd)
            try? FileManager.default.removeItem(atPath: directory)
            throw FastCGIClient.Failure(description: "bind/listen \(path) failed: errno \(error)")
        }
        self.fd = fd
    }

    deinit {
        close(fd)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
