import CoreMetrics
import Foundation
import MetricsTestKit
import MusicCore
@testable import MusicPostgres
@testable import MusicSQLite
import StoreTestSupport
import Synchronization
import Testing

/// Polls `condition` until it holds or `seconds` pass.
private func eventually(within seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(2_000)
    }
    return try condition()
}

/// Runs `body` on a thread of its own; `group` is left when it returns.
private func onThread(_ group: DispatchGroup, _ body: @escaping @Sendable () -> Void) {
    group.enter()
    Thread.detachNewThread {
        body()
        group.leave()
    }
}

/// The SQLite writer's metrics move by exactly the writes sent (`GroupCommit`),
/// counted on a `TestMetrics` of the test's own.
@Suite("SQLite write metrics")
struct SQLiteWriteMetricsTests {
    let metrics = TestMetrics()
    let directory = NSTemporaryDirectory() + "music-metrics-" + UUID().uuidString

    func openStore() throws -> SQLiteStore {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return try SQLiteStore(path: directory + "/music.sqlite", metrics: metrics)
    }

    var batchSizes: [Double] { get throws { try metrics.expectRecorder(WriteMetrics.batchSizeName).values } }
    var commits: [Int64] { get throws { try metrics.expectTimer(WriteMetrics.commitDurationName).values } }
    var waits: [Int64] { get throws { try metrics.expectTimer(WriteMetrics.waitName).values } }
    var queueDepth: TestRecorder { get throws { try metrics.expectGauge(WriteMetrics.queueDepthName) } }

    @Test("one write at a time: a batch of one each, one commit timed and one wait each")
    func sequentialWrites() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try openStore()
        // Migrations run alone on the writer, in no batch.
        #expect(try batchSizes.isEmpty)
        for index in 0..<3 {
            try store.write { try $0.insert(Organization(id: "org_0000000000m\(index)", name: "m", createdAt: .init(secondsSince1970: 0))) }
        }
        #expect(try batchSizes == [1, 1, 1])
        #expect(try commits.count == 3)
        #expect(try commits.allSatisfy { $0 > 0 })
        #expect(try waits.count == 3)
        #expect(try queueDepth.values == [1, 0, 1, 0, 1, 0])
    }

    @Test("the help table names exactly the metrics made")
    func helpCoversEveryMetric() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try openStore()
        let made = metrics.counters.map(\.label) + metrics.timers.map(\.label) + metrics.recorders.map(\.label)
        #expect(Set(made) == Set(WriteMetrics.help.keys))
    }

    @Test("writes queued while the writer is busy wait for it, show in the queue depth and commit as one batch")
    func queuedWrites() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try openStore()
        let queued = 5
        let inFirst = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        onThread(group) {
            // Holds the writer inside its batch until the others are queued.
            try? store.write { _ in
                inFirst.signal()
                release.wait()
            }
        }
        #expect(inFirst.wait(timeout: .now() + 10) == .success)
        for _ in 0..<queued {
            onThread(group) { try? store.write { _ in } }
        }
        #expect(try eventually { try queueDepth.lastValue == Double(queued) })
        release.signal()
        #expect(group.wait(timeout: .now() + 10) == .success)

        #expect(try batchSizes == [1, Double(queued)])
        #expect(try commits.count == 2)
        #expect(try waits.count == queued + 1)
        // Each of the queued writes waited at least until the first batch ended.
        #expect(try waits.filter { $0 > 0 }.count >= queued)
        #expect(try queueDepth.values.max() == Double(queued))
        #expect(try queueDepth.lastValue == 0)
    }
}

/// The PostgreSQL store's pool, reconnect and retry metrics (with MUSIC_TEST_DATABASE_URL).
@Suite("PostgreSQL metrics", .enabled(if: TestDatabase.postgresURL != nil))
struct PostgresMetricsTests {
    let database: TestDatabase
    let metrics = TestMetrics()
    let store: PostgresStore

    init() throws {
        database = try TestDatabase()
        guard case .postgres(let url, let schema) = database.kind else { throw CancellationError() }
        store = try PostgresStore(url: url, schema: schema, connections: 2, applicationName: schema, migrate: false, metrics: metrics)
    }

    var inUse: TestRecorder { get throws { try metrics.expectGauge(PostgresMetrics.inUseName) } }
    func counter(_ label: String) throws -> Int64 { try metrics.expectCounter(label).totalValue }

    @Test("pool size, connections in use, and a wait for a connection counted and timed")
    func poolWait() throws {
        #expect(try metrics.expectGauge(PostgresMetrics.connectionsName).lastValue == 2)
        #expect(try inUse.lastValue == 0)
        let release = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for _ in 0..<2 {
            onThread(group) { [store] in try? store.read { _ in release.wait() } }
        }
        #expect(try eventually { try inUse.lastValue == 2 })
        #expect(try counter(PostgresMetrics.waitsName) == 0)
        onThread(group) { [store] in try? store.read { _ in } }
        #expect(try eventually { try counter(PostgresMetrics.waitsName) == 1 })
        release.signal()
        release.signal()
        #expect(group.wait(timeout: .now() + 10) == .success)
        #expect(try metrics.expectTimer(PostgresMetrics.waitName).values.count == 1)
        #expect(try inUse.lastValue == 0)
        #expect(try inUse.values.max() == 2)
        // An idle connection handed out is in use too.
        let held = DispatchGroup()
        onThread(held) { [store] in try? store.read { _ in release.wait() } }
        #expect(try eventually { try inUse.lastValue == 1 })
        release.signal()
        #expect(held.wait(timeout: .now() + 10) == .success)
        #expect(try inUse.lastValue == 0)
        #expect(try counter(PostgresMetrics.reconnectsName) == 0)
        #expect(try counter(PostgresMetrics.retriesName) == 0)
    }

    @Test("the help table names exactly the metrics made")
    func helpCoversEveryMetric() {
        let made = metrics.counters.map(\.label) + metrics.timers.map(\.label) + metrics.recorders.map(\.label)
        #expect(Set(made) == Set(PostgresMetrics.help.keys))
    }

    @Test("a transaction run again after a retryable failure counts one retry")
    func retry() throws {
        let attempts = Mutex(0)
        try store.write { _ in
            let attempt = attempts.withLock { $0 += 1; return $0 }
            if attempt == 1 { throw PostgresError(sqlState: "40001", message: "could not serialize access (test)") }
        }
        #expect(attempts.withLock { $0 } == 2)
        #expect(try counter(PostgresMetrics.retriesName) == 1)
    }

    @Test("a connection found closed by the server is re-opened and counted")
    func reconnect() throws {
        // A statement each: BEGIN goes to the server with the first one.
        let look = { [store] in _ = try store.read { try $0.organization(id: "org_00000000none") } }
        try look()
        guard case .postgres(_, let schema) = database.kind else { return }
        let ended = try database.outsideQuery("""
            SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_stat_activity
            WHERE application_name = '\(schema)' AND state = 'idle'
            """)
        #expect(Int(ended) ?? 0 >= 1)
        #expect(try counter(PostgresMetrics.reconnectsName) == 0)
        try look()
        #expect(try counter(PostgresMetrics.reconnectsName) == 1)
    }
}
