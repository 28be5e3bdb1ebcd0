import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

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
