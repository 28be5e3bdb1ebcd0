import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

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
