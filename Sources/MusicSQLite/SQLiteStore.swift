import CoreMetrics
import CSQLiteConfig
import Foundation
import GRDB
import GRDBSQLite
import MusicCore
import MusicSupport
#if canImport(Glibc)
import Glibc
#endif

/// The `Store` on one SQLite file: WAL mode, `synchronous=FULL` (an acknowledged
/// write survives a power cut), a busy timeout so several worker processes can
/// share the file, and `BEGIN IMMEDIATE` for every write so a read-then-write
/// never upgrades a lock mid-transaction.
///
/// Connections: each thread that reads gets a connection of its own (a GRDB
/// `DatabaseQueue`, created on first use), and writes go through one writer
/// connection with group commit. GRDB's `DatabasePool` hands its connections
/// out through dispatch queues and semaphores; with the worker's 64 blocking
/// threads that machinery took 39% of the CPU (`_dispatch_sync_f_slow`) and
/// held a simple read to a seventh of the C floor. A thread's own connection
/// is never contended, so its dispatch queue always takes the fast path.
package final class SQLiteStore: Store, @unchecked Sendable {
    let path: String
    let configuration: Configuration
    let writer: DatabaseQueue
    /// The writer connection's prepared statements (used on the writer thread only).
    let writerStatements = StatementCache()
    let groupCommit: GroupCommit
    /// What the writer knows of credentials (see `WriterCredentials`).
    let writerCredentials = WriterCredentials()
    private let readers = ThreadLocal<ThreadReader>()
    /// Held shared while this store is open: see `OpenLock`.
    private let openLock: OpenLock
    /// The connection of the read transaction open on this thread, if any.
    private let openRead = ThreadLocalReference<Database>()
    /// The writer connection, while this thread runs a write of the group transaction.
    private let openWrite = ThreadLocalReference<Database>()

    /// Opens (creating if needed) the database at `path` and migrates it.
    /// `metrics`: where the writer's metric handles come from (bootstrap the
    /// process's factory before this, as music-fcgi does; tests pass their own).
    package init(path: String, migrate: Bool = true, metrics: any MetricsFactory = MetricsSystem.factory) throws {
        _ = Self.tuneSQLiteOnce
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        self.path = path
        self.configuration = configuration
        openLock = try OpenLock(databasePath: path)
        var writerConfiguration = configuration
        // The writer's page cache, 2 MiB (about SQLite's default): it lives in the one
        // worker that takes the writes, on top of the read connections' caches, and
        // 4 MiB put that worker above the benchmark's 64 MiB. Writes against 4 and
        // 16 MiB: docs/performance.md, "The writer's page cache".
        writerConfiguration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA cache_size = -2048")
        }
        writer = try DatabaseQueue(path: path, configuration: writerConfiguration)
        try Self.switchToWAL(writer)
        let writerCredentials = self.writerCredentials
        groupCommit = GroupCommit(writer: writer, statements: writerStatements, metrics: WriteMetrics(factory: metrics)) { db, statements in
            let version = try SQLiteTransaction(db: db, statements: statements).first(.dataVersion, []) { $0.int64(0) }
            writerCredentials.transactionBegan(dataVersion: version)
        }
        if migrate { try self.migrate() }
    }

    deinit {
        groupCommit.stop()
        writerStatements.removeAll()
        readers.delete()
        openRead.delete()
        openWrite.delete()
    }

    /// Puts the database in WAL mode. On a fresh file, stores opened at once (two
    /// workers starting together) race for the switch: it needs the exclusive
    /// lock, and SQLite answers SQLITE_BUSY at once, without its busy handler, when
    /// waiting could deadlock. The loser tries again until the winner is done.
    static func switchToWAL(_ writer: DatabaseQueue, timeout: Double = 10) throws {
        let deadline = monotonicSeconds() + timeout
        while true {
            do {
                try writer.writeWithoutTransaction { db in
                    _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                }
                return
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
                guard monotonicSeconds() < deadline else { throw error }
                usleep(5_000)
            }
        }
    }

    /// Applies any pending migration.
    package func migrate() throws {
        try exclusive { writer in try writer.writeWithoutTransaction { try SQLiteMigrations.migrate($0) } }
    }

    /// `body` alone on the writer connection, which may change anything: the
    /// credentials memo is forgotten after it.
    private func exclusive<T>(_ body: (DatabaseQueue) throws -> T) throws -> T {
        try groupCommit.exclusive { writer in
            defer { writerCredentials.forgetAll() }
            return try body(writer)
        }
    }

    /// A read transaction on this thread's connection. Reads nest: a read inside
    /// a read on the same thread joins the outer transaction (one snapshot), and
    /// a read inside a write reads within the write.
    package func read<T>(_ body: (any StoreReader) throws -> T) throws -> T {
        if let open = openWrite.value {
            return try body(writerTransaction(open))
        }
        let reader = try threadReader()
        if let open = openRead.value {
            return try body(SQLiteTransaction(db: open, statements: reader.statements, readerCredentials: reader.credentials))
        }
        return try reader.queue.inDatabase { db in
            openRead.set(db)
            defer { openRead.set(nil) }
            let transaction = SQLiteTransaction(db: db, statements: reader.statements, readerCredentials: reader.credentials)
            try transaction.execute(.beginDeferred, [])
            let result: T
            do {
                result = try body(transaction)
            } catch {
                if db.isInsideTransaction { try? transaction.execute(.rollback, []) }
                throw error
            }
            try transaction.execute(.commit, [])
            return result
        }
    }

    /// A write transaction, committed (durably) before this returns; concurrent
    /// writes share a commit (see `GroupCommit`). A write inside a write joins it;
    /// a write inside a read is refused (it would commit apart from the read).
    package func write<T>(_ body: (any StoreWriter) throws -> T) throws -> T {
        if let open = openWrite.value {
            return try body(writerTransaction(open))
        }
        if openRead.isSet { throw WriteInsideReadError() }
        return try groupCommit.write { db in
            // The body runs on the writer thread: mark the write open there.
            openWrite.set(db)
            defer { openWrite.set(nil) }
            return try body(writerTransaction(db))
        }
    }

    /// The transaction open on the writer connection (on the writer thread).
    private func writerTransaction(_ open: Database) -> SQLiteTransaction {
        SQLiteTransaction(db: open, statements: writerStatements,
                          writerCredentials: writerCredentials)
    }

    /// SQLite's process-wide settings, made once before the first connection opens.
    private static let tuneSQLiteOnce: Void = {
        _ = music_sqlite_disable_memory_statistics()
    }()

    package func ping() throws {
        try readerForThisThread().inDatabase { db in
            _ = try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM sqlite_master"))
        }
    }

    /// `PRAGMA data_version` of this thread's connection: it moves with every commit
    /// of another connection (the writer, other processes). Outside transactions only.
    package func changeStamp() -> Int64? {
        guard !openWrite.isSet, !openRead.isSet else { return nil }
        guard let reader = try? threadReader() else { return nil }
        return reader.dataVersion()
    }

    /// A consistent copy of the database at `path`, taken with SQLite's online
    /// backup from one read snapshot while workers keep writing. The copy is
    /// private (mode 0600) and appears under its name only whole: it is written
    /// to a temporary name in the same folder, synced, checked, then linked to
    /// `path` (never replacing a file there) and the folder synced. Returns the
    /// copy's integrity check ("ok").
    @discardableResult
    package func backup(to path: String) throws -> String {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let temporary = folder + "/." + url.lastPathComponent + ".partial-\(getpid())"
        let created = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard created >= 0 else {
            throw SQLiteFileRefusal("cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        _ = fchmod(created, 0o600) // whatever the umask
        close(created)
        defer {
            unlink(temporary)
            unlink(temporary + "-journal")
        }
        let destination = try DatabaseQueue(path: temporary)
        try readerForThisThread().backup(to: destination)
        try destination.close()
        try BackupFile.sync(temporary)
        let check = try BackupFile.verify(temporary)
        guard link(temporary, path) == 0 else {
            throw SQLiteFileRefusal(errno == EEXIST ? "\(path) exists; choose a new file"
                                                    : "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        try BackupFile.sync(folder, directory: true)
        return check
    }

    /// Replaces the whole content of this database with the backup at `path`
    /// (SQLite's backup API, under the write lock). Refused, changing nothing,
    /// when the backup is empty, unsound or not this service's, and while any
    /// other store (a worker, another music-admin) has this database open. The
    /// backup is read immutable: never written, locked or given a -wal.
    package func restore(from path: String) throws {
        try BackupFile.verify(path)
        guard openLock.tryExclusive() else {
            throw SQLiteFileRefusal("the database is open in another process (workers running?): stop them first; nothing restored")
        }
        defer { openLock.shared() }
        let source = try BackupFile.openUntouched(path)
        defer { try? source.close() }
        try exclusive { writer in try source.backup(to: writer) }
    }

    /// `PRAGMA integrity_check`: "ok" for a sound file.
    package func integrityCheck() throws -> String {
        try readerForThisThread().inDatabase { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "" }
    }

    /// The value of a PRAGMA on this thread's connection (for checks and tests).
    package func pragma(_ name: String) throws -> String {
        try readerForThisThread().inDatabase { db in try String.fetchOne(db, sql: "PRAGMA \(name)") ?? "" }
    }

    /// Each read connection's page cache (`PRAGMA cache_size`; negative: in KiB,
    /// here 32 pages of 4 KiB). There is one read connection per worker thread,
    /// 64 of them: at 512 KiB the caches filled with the cache-miss reads of
    /// deploy/bench to 33 of a worker's 87 MiB. With 32 pages a read that misses
    /// the read cache makes 2.9 read system calls (one on the socket, the rest
    /// SQLite's preads from the kernel's page cache) against 2.05 at 512 KiB and
    /// 11.75 at 64 KiB, where a request's pages no longer fit
    /// (deploy/profile --memory, docs/performance.md).
    ///
    /// No `mmap_size`. It would not weaken durability (in WAL mode a reader reads
    /// a commit from the WAL file, never through the map, and the main file only
    /// receives pages a checkpoint copies from the WAL, after their fsync), but
    /// each connection maps the file on its own, so every page a worker reads
    /// counts in its resident size once per connection (VmRSS 265 MiB against
    /// 87 in the same run), it saved no instructions, and an I/O error on a
    /// mapped page is a SIGBUS instead of an error.
    static let readerCacheSize = -128

    /// This thread's connection, opened on first use and closed when the thread ends.
    private func readerForThisThread() throws -> DatabaseQueue {
        try threadReader().queue
    }

    private func threadReader() throws -> ThreadReader {
        try readers.value {
            var readerConfiguration = configuration
            readerConfiguration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA cache_size = \(Self.readerCacheSize)")
            }
            return try ThreadReader(DatabaseQueue(path: path, configuration: readerConfiguration))
        }
    }
}

/// A thread's own read connection. Only that thread uses it, so its prepared
/// statements need no lock, and one of them runs outside GRDB's queue
/// (`dataVersion`, on every read).
private final class ThreadReader {
    let queue: DatabaseQueue
    let statements = StatementCache()
    /// What this connection found of keys (see `ReaderCredentials`).
    let credentials = ReaderCredentials()
    /// `PRAGMA data_version`, prepared with the connection: the read cache asks
    /// it on every read, and through GRDB (a dispatch queue, a statement lookup,
    /// a row) it costs twice as much (docs/performance.md).
    private let dataVersionStatement: OpaquePointer

    init(_ queue: DatabaseQueue) throws {
        self.queue = queue
        let statements = self.statements
        dataVersionStatement = try queue.inDatabase { try statements.statement(.dataVersion, in: $0) }
    }

    /// The connection's `PRAGMA data_version`; nil on error.
    func dataVersion() -> Int64? {
        defer { sqlite3_reset(dataVersionStatement) }
        guard sqlite3_step(dataVersionStatement) == SQLITE_ROW else { return nil }
        return sqlite3_column_int64(dataVersionStatement, 0)
    }

    /// The statements go before the connection closes (with the queue, right after).
    deinit {
        statements.removeAll()
    }
}
