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
        let admin = Self.binDirectory + "/music-admin"
        let worker = Self.binDirectory + "/music-fcgi"
        guard FileManager.default.isExecutableFile(atPath: worker), FileManager.default.isExecutableFile(atPath: admin) else {
            throw FastCGIClient.Failure(description: "build music-fcgi and music-admin first (looked in \(Self.binDirectory))")
        }
        let demo = try Self.run(admin, ["demo", "--db", db, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(demo.utf8)) as? [String: Any] ?? [:]
        organizationID = object["organization_id"] as? String ?? ""
        apiKey = object["api_key"] as? String ?? ""

        process.executableURL = URL(fileURLWithPath: worker)
        process.arguments = ["--socket", socketPath, "--db", db, "--threads", String(threads), "--log-level", "warning"]
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socketPath) { usleep(25_000) }
        guard FileManager.default.fileExists(atPath: socketPath) else { throw FastCGIClient.Failure(description: "the worker did not open its socket") }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    func client() throws -> FastCGIClient { try FastCGIClient(socketPath: socketPath) }

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
