import Foundation
import GRDB
@testable import MusicSQLite
import Testing

/// The read connections (one per worker thread) keep small page caches and do
/// not map the file: what a worker holds in memory (docs/performance.md).
@Suite("SQLite: the read connections' memory")
struct ReaderConnectionTests {
    @Test("a read connection has a 128 KiB page cache and no memory map; the writer keeps 2 MiB")
    func readerSettings() throws {
        let path = NSTemporaryDirectory() + "music-reader-" + UUID().uuidString + ".sqlite"
        defer { for suffix in ["", "-wal", "-shm", "-open.lock"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let store = try SQLiteStore(path: path)
        #expect(try store.pragma("cache_size") == "-128")
        #expect(try store.pragma("cache_size") == String(SQLiteStore.readerCacheSize))
        #expect(try store.pragma("mmap_size") == "0")
        // Another thread's connection is configured the same way.
        let other = try Thread.detachedResult { try store.pragma("cache_size") }
        #expect(other == "-128")
        let writerCache = try store.writer.inDatabase { db in try String.fetchOne(db, sql: "PRAGMA cache_size") }
        #expect(writerCache == "-2048")
    }
}

private extension Thread {
    /// `body`'s result, run on a new thread (its own read connection), waited for at most 30 s.
    static func detachedResult(_ body: @escaping @Sendable () throws -> String) throws -> String {
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            box.set(Result { try body() })
            done.signal()
        }
        guard done.wait(timeout: .now() + 30) == .success else { throw CancellationError() }
        return try box.get()
    }
}

private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<String, any Error>?
    func set(_ value: Result<String, any Error>) { lock.withLock { result = value } }
    func get() throws -> String { try lock.withLock { result! }.get() }
}
