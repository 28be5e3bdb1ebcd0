import Foundation
import MusicCore
import MusicPostgres
import MusicSQLite

/// A fresh, empty database for one test, on the store the run asks for:
/// SQLite (a new file) by default; PostgreSQL when `MUSIC_TEST_DATABASE_URL`
/// names a server (a new schema in it, dropped afterwards). `deploy/test`
/// runs the store and API suites once each way.
public final class TestDatabase: @unchecked Sendable {
    public enum Kind: Equatable, Sendable {
        case sqlite(path: String)
        case postgres(url: String, schema: String)
    }

    public let kind: Kind
    public let store: any Store
    private let directory: String

    /// The PostgreSQL server the run targets, if any.
    public static var postgresURL: String? {
        ProcessInfo.processInfo.environment["MUSIC_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public init() throws {
        directory = NSTemporaryDirectory() + "music-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let url = Self.postgresURL {
            let schema = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            kind = .postgres(url: url, schema: schema)
            store = try PostgresStore(url: url, schema: schema, connections: 8, applicationName: schema)
        } else {
            let path = directory + "/music.sqlite"
            kind = .sqlite(path: path)
            store = try SQLiteStore(path: path)
        }
    }

    deinit {
        if case .postgres(_, let schema) = kind, let store = store as? PostgresStore { try? store.dropSchema(schema) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Another store on the same data: a second worker process, or a second host.
    public func anotherStore() throws -> any Store {
        switch kind {
        case .sqlite(let path): return try SQLiteStore(path: path)
        case .postgres(let url, let schema): return try PostgresStore(url: url, schema: schema, connections: 8, applicationName: schema)
        }
    }

    /// Every byte the database holds, as an outsider would read it: the SQLite
    /// file and its WAL, or `pg_dump` of the schema.
    public func rawContent() throws -> Data {
        switch kind {
        case .sqlite(let path):
            return try Data(contentsOf: URL(fileURLWithPath: path)) + ((try? Data(contentsOf: URL(fileURLWithPath: path + "-wal"))) ?? Data())
        case .postgres(let url, let schema):
            return try Self.run("/usr/bin/pg_dump", ["--schema=\(schema)", "--data-only", "--dbname=\(url)"])
        }
    }

    /// Runs `sql` with the command-line client of the store (sqlite3 or psql): an
    /// outside view of what is stored. Unqualified names resolve in the test's schema.
    public func outsideQuery(_ sql: String) throws -> String {
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
