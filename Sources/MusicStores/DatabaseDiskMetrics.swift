import CoreMetrics
#if canImport(Glibc)
import Glibc
#endif

/// The file system that holds the SQLite database, read when `sample()` is called
/// (at scrape time): what the alert "disk almost full" watches
/// (deploy/prometheus/alerts.yml). A full disk fails every write of the service
/// and, with WAL, can leave a checkpoint unable to finish.
package final class DatabaseDiskMetrics: Sendable {
    /// The database file; its folder (links followed) is where SQLite writes.
    let databasePath: String
    /// music_database_disk_free_bytes: bytes free for an unprivileged user (f_bavail) on the database's file system.
    private let free: Gauge
    /// music_database_disk_size_bytes: the size of the database's file system.
    private let size: Gauge

    /// nil for PostgreSQL: its disk is the database server's, watched there.
    package init?(choice: StoreChoice, factory: any MetricsFactory = MetricsSystem.factory) {
        guard case .sqlite(let path) = choice else { return nil }
        databasePath = path
        free = Gauge(label: "music_database_disk_free_bytes", factory: factory)
        size = Gauge(label: "music_database_disk_size_bytes", factory: factory)
    }

    package func sample() {
        guard let folder = Self.folder(of: databasePath) else { return }
        var stats = statvfs()
        guard statvfs(folder, &stats) == 0 else { return }
        free.record(Int64(clamping: UInt64(stats.f_bavail) &* UInt64(stats.f_frsize)))
        size.record(Int64(clamping: UInt64(stats.f_blocks) &* UInt64(stats.f_frsize)))
    }

    /// The folder of the file `path` resolves to (deploy/up links var/music.sqlite
    /// into the service folder, which may be on another file system).
    static func folder(of path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { Glibc.free(resolved) }
        let full = String(cString: resolved)
        guard let slash = full.lastIndex(of: "/") else { return nil }
        return slash == full.startIndex ? "/" : String(full[..<slash])
    }
}
