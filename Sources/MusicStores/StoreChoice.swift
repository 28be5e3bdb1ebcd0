import Foundation
import MusicCore
import MusicPostgres
import MusicSQLite

/// Which store a process uses: PostgreSQL when a database URL is given
/// (`--database-url` or `MUSIC_DATABASE_URL`), else the SQLite file.
package enum StoreChoice: Equatable, Sendable {
    case sqlite(path: String)
    case postgres(url: String)

    /// `url` (else `$MUSIC_DATABASE_URL`) selects PostgreSQL; otherwise SQLite at
    /// `sqlitePath` (else `$MUSIC_DB`, else `var/music.sqlite`).
    package static func resolve(url: String?, sqlitePath: String?,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> StoreChoice {
        if let url = url ?? environment["MUSIC_DATABASE_URL"], !url.isEmpty {
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
                throw StoreUnavailableError(reason: "the database URL must start with postgres:// or postgresql://")
            }
            return .postgres(url: url)
        }
        return .sqlite(path: sqlitePath ?? environment["MUSIC_DB"] ?? "var/music.sqlite")
    }

    /// Opens the store, migrating it first. `connections` sizes PostgreSQL's pool.
    package func open(connections: Int = 16) throws -> any Store {
        switch self {
        case .sqlite(let path):
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
            return try SQLiteStore(path: path)
        case .postgres(let url):
            return try PostgresStore(url: url, connections: connections)
        }
    }

    /// Where the data lives, without any password (for logs and reports).
    package var displayName: String {
        switch self {
        case .sqlite(let path): return "sqlite:\(path)"
        case .postgres(let url):
            guard var components = URLComponents(string: url) else { return "postgres" }
            components.password = nil
            components.query = nil
            return components.string ?? "postgres"
        }
    }
}
