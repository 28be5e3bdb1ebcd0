import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// Why a backup or a restore was refused; nothing was changed.
public struct SQLiteFileRefusal: Error, CustomStringConvertible, Equatable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A shared `flock` on `<database>-open.lock`, held by every `SQLiteStore` for
/// as long as it is open (each worker process, each `music-admin` command).
/// `restore` needs it exclusively: while any other store has the database open
/// it is refused. (SQLite's own locks cannot tell: an idle connection holds
/// none.) A file of its own, not the database: closing another descriptor of
/// the database file would drop SQLite's POSIX locks in this process.
final class OpenLock: @unchecked Sendable {
    let path: String
    private let descriptor: Int32

    init(databasePath: String) throws {
        path = Self.followingLinks(databasePath) + "-open.lock"
        // Readable by all (it is empty): a worker running as the service user
        // can take it even when root's music-admin created it.
        var descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if descriptor < 0 { descriptor = open(path, O_RDONLY | O_CLOEXEC) }
        guard descriptor >= 0 else {
            throw SQLiteFileRefusal("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        _ = fchmod(descriptor, 0o644)
        self.descriptor = descriptor
        // Waits while a restore runs.
        while flock(descriptor, LOCK_SH) != 0 && errno == EINTR {}
    }

    deinit { close(descriptor) }

    /// The database file a path names, through any links to it: the local stack
    /// links `var/music.sqlite` into the service folder, and a store opened through
    /// the link must meet the workers on the same lock file. (The folders on the
    /// way need no resolving: `flock` locks the file, however it was reached.)
    /// The target may not exist yet: SQLite creates it through the link.
    static func followingLinks(_ path: String) -> String {
        var path = path
        var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        for _ in 0..<32 {
            let length = readlink(path, &target, target.count - 1)
            guard length > 0 else { break }
            let destination = String(decoding: target[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if destination.hasPrefix("/") {
                path = destination
            } else if let slash = path.lastIndex(of: "/") {
                path = String(path[...slash]) + destination
            } else {
                path = destination
            }
        }
        return path
    }

    /// Makes the lock exclusive when no other store holds it; false otherwise
    /// (this store's shared lock is taken again).
    func tryExclusive() -> Bool {
        if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
        while flock(descriptor, LOCK_SH) != 0 && errno == EINTR {}
        return false
    }

    func shared() {
        while flock(descriptor, LOCK_SH) != 0 && errno == EINTR {}
    }
}

/// Checks of a backup file, made without changing it.
enum BackupFile {
    /// Tables every version of the schema has.
    static let requiredTables = ["organizations", "users", "memberships", "api_keys", "tracks", "collections", "collection_tracks"]

    /// `path` opened read-only and immutable: SQLite takes no lock, writes
    /// nothing and creates no -wal or -shm beside it.
    static func openUntouched(_ path: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = true
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var escaped = ""
        for character in absolute.unicodeScalars {
            switch character {
            case "%", "?", "#": escaped += String(format: "%%%02X", character.value)
            default: escaped.unicodeScalars.append(character)
            }
        }
        return try DatabaseQueue(path: "file:\(escaped)?immutable=1", configuration: configuration)
    }

    /// Refuses an empty file, a file that is not a sound SQLite database, and
    /// one without this service's schema (or with migrations this version does
    /// not know). Returns `PRAGMA integrity_check`'s "ok".
    @discardableResult
    static func verify(_ path: String) throws -> String {
        var status = stat()
        guard stat(path, &status) == 0 else { throw SQLiteFileRefusal("no backup at \(path)") }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw SQLiteFileRefusal("\(path) is not a regular file") }
        guard status.st_size > 0 else { throw SQLiteFileRefusal("\(path) is empty") }
        let queue: DatabaseQueue
        do {
            queue = try openUntouched(path)
        } catch {
            throw SQLiteFileRefusal("\(path) is not a sound SQLite database (\(Self.reason(error)))")
        }
        defer { try? queue.close() }
        return try queue.inDatabase { db in
            let check: String
            do {
                check = try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ")
            } catch {
                throw SQLiteFileRefusal("\(path) is not a sound SQLite database (\(Self.reason(error)))")
            }
            guard check == "ok" else { throw SQLiteFileRefusal("\(path) fails the integrity check: \(check.prefix(200))") }
            let tables = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
            guard tables.contains("grdb_migrations") else {
                throw SQLiteFileRefusal("\(path) does not hold this service's schema (no migrations table)")
            }
            let applied = Set(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"))
            let known = Set(SQLiteMigrations.migrations.map(\.name))
            guard applied.contains("v1") else { throw SQLiteFileRefusal("\(path) does not hold this service's schema (v1 missing)") }
            if let unknown = applied.subtracting(known).sorted().first {
                throw SQLiteFileRefusal("\(path) was made by another version of the service (migration \(unknown))")
            }
            if let missing = requiredTables.first(where: { !tables.contains($0) }) {
                throw SQLiteFileRefusal("\(path) does not hold this service's schema (no table \(missing))")
            }
            return check
        }
    }

    /// SQLite's words for a failure, without the statement.
    static func reason(_ error: any Error) -> String {
        (error as? DatabaseError)?.message ?? "\(error)"
    }

    /// Flushes a file or folder to disk.
    static func sync(_ path: String, directory: Bool = false) throws {
        let descriptor = open(path, (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SQLiteFileRefusal("cannot open \(path) to sync it") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw SQLiteFileRefusal("fsync of \(path) failed: \(String(cString: strerror(errno)))") }
    }
}
