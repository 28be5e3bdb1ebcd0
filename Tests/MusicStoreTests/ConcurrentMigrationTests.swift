import Foundation
import GRDB
import MusicCore
import MusicPostgres
import MusicSQLite
import StoreTestSupport
import Synchronization
import Testing

/// Workers (and `music-admin migrate`) may start together on a database no one
/// has migrated: every one of them comes up, and each migration runs once.
@Suite("Migrations started together")
struct ConcurrentMigrationTests {
    @Test("8 stores opened at once on one fresh database all migrate it; each migration is recorded once")
    func concurrentFirstStart() throws {
        let directory = NSTemporaryDirectory() + "music-migrate-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let schema = "migrate_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let open: @Sendable () throws -> any Store = {
            if let url = TestDatabase.postgresURL {
                return try PostgresStore(url: url, schema: schema, connections: 1, applicationName: schema)
            }
            return try SQLiteStore(path: directory + "/music.sqlite")
        }
        defer {
            if let url = TestDatabase.postgresURL, let store = try? PostgresStore(url: url, migrate: false) {
                try? store.dropSchema(schema)
            }
        }
        for round in 0..<3 {
            let failures = Mutex<[String]>([])
            let stores = Mutex<[any Store]>([])
            let start = DispatchSemaphore(value: 0)
            let group = DispatchGroup()
            for _ in 0..<8 {
                group.enter()
                Thread.detachNewThread {
                    defer { group.leave() }
                    start.wait()
                    do {
                        let store = try open()
                        stores.withLock { $0.append(store) }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
            }
            for _ in 0..<8 { start.signal() }
            #expect(group.wait(timeout: .now() + 60) == .success)
            #expect(failures.withLock { $0 } == [], "round \(round)")
            let store = try open()
            // Every table of the last migration is there and usable.
            let admin = AdminService(store: store)
            let organization = try admin.createOrganization(name: "after round \(round)")
            #expect(try store.read { try $0.organization(id: organization.id) } != nil)
            let applied = try appliedMigrations(store: store, directory: directory, schema: schema)
            #expect(applied.count == Set(applied).count)
            #expect(applied.contains("v5: idempotency records per organization"))
            // A fresh database for the next round.
            stores.withLock { $0.removeAll() }
            if TestDatabase.postgresURL == nil {
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: directory + "/music.sqlite" + suffix) }
            } else if let postgres = store as? PostgresStore {
                try postgres.dropSchema(schema)
            }
        }
    }

    private func appliedMigrations(store: any Store, directory: String, schema: String) throws -> [String] {
        let (executable, arguments, environment): (String, [String], [String: String])
        if let url = TestDatabase.postgresURL {
            (executable, arguments, environment) = ("/usr/bin/psql", ["--no-psqlrc", "-At", "--dbname=\(url)", "-c",
                                                                      "SELECT identifier FROM \(schema).schema_migrations"], [:])
        } else {
            (executable, arguments, environment) = ("/usr/bin/sqlite3", [directory + "/music.sqlite", "SELECT identifier FROM grdb_migrations"], [:])
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test("SQLite: a store opened while another process holds the fresh file's write lock waits for it, then switches to WAL",
          .enabled(if: TestDatabase.postgresURL == nil))
    func walSwitchWaitsForAWriter() throws {
        let path = NSTemporaryDirectory() + "music-wal-" + UUID().uuidString + ".sqlite"
        defer { for suffix in ["", "-wal", "-shm", "-journal", "-open.lock"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        // Another opener (the first worker, or music-admin) in the middle of a write
        // on the still rollback-journalled file: SQLite refuses the switch at once
        // (SQLITE_BUSY without the busy handler: waiting could deadlock).
        var holding = Configuration()
        holding.allowsUnsafeTransactions = true
        let other = try DatabaseQueue(path: path, configuration: holding)
        try other.writeWithoutTransaction { try $0.execute(sql: "CREATE TABLE early (x INTEGER); BEGIN IMMEDIATE; INSERT INTO early VALUES (1)") }
        let released = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            // The other writer goes on for a while, then commits.
            usleep(300_000)
            try? other.writeWithoutTransaction { try $0.execute(sql: "COMMIT") }
            released.signal()
        }
        let store = try SQLiteStore(path: path)
        #expect(try store.pragma("journal_mode") == "wal")
        #expect(released.wait(timeout: .now() + 10) == .success)
        try other.close()
    }
}
