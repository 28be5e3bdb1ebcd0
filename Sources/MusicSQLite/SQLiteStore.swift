import GRDB
import MusicCore

/// The `Store` on one SQLite file through a GRDB `DatabasePool`: WAL mode,
/// `synchronous=FULL` (an acknowledged write survives a power cut), a busy
/// timeout so several worker processes can share the file, and `BEGIN IMMEDIATE`
/// for every write so a read-then-write never upgrades a lock mid-transaction.
public final class SQLiteStore: Store {
    let pool: DatabasePool

    /// Opens (creating if needed) the database at `path` and migrates it.
    public init(path: String, readers: Int = 8, migrate: Bool = true) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.maximumReaderCount = readers
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        if migrate { try SQLiteMigrations.migrator.migrate(pool) }
    }

    /// Applies any pending migration.
    public func migrate() throws {
        try SQLiteMigrations.migrator.migrate(pool)
    }

    public func read<T>(_ body: (any StoreReader) throws -> T) throws -> T {
        try pool.read { db in try body(SQLiteTransaction(db: db)) }
    }

    public func write<T>(_ body: (any StoreWriter) throws -> T) throws -> T {
        try pool.writeWithoutTransaction { db in
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(SQLiteTransaction(db: db))
                return .commit
            }
            return result!
        }
    }

    public func ping() throws {
        try pool.read { db in _ = try Int.fetchOne(db, sql: "SELECT 1") }
    }

    /// `PRAGMA integrity_check`: "ok" for a sound file.
    public func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "" }
    }
}

extension SQLiteStore {
    /// The value of a PRAGMA on a reader connection (for checks and tests).
    public func pragma(_ name: String) throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA \(name)") ?? "" }
    }
}
