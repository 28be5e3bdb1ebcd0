import HTTPTypes
import MusicCore
import MusicSupport
#if canImport(Glibc)
import Glibc
#endif

/// Answers to reads, kept per thread and valid while the database has not changed.
///
/// A GET of a collection, a page of members or a track answers the same bytes
/// as long as no commit happened anywhere since (nothing in those answers
/// depends on the clock). The store says cheaply whether one did
/// (`Store.changeStamp()`: SQLite's `PRAGMA data_version`, which moves with every
/// commit of any connection or process), so a repeated read skips
/// authentication, the queries and the JSON encoding, and is never stale: a
/// revoked key, a removed member or any other write changes the stamp and the
/// next request is answered afresh. The key of an entry is the caller's key
/// hash, the organization and the whole request target, so an entry only ever
/// serves the caller whose request made it. Only 200 answers are kept, and
/// none that varies with a request header (`Vary`): the key has no header in it,
/// so the HTML and the JSON of one target (the shared view's) would mix.
///
/// Per thread, so nothing is shared or locked: each worker thread has its own
/// database connection, and the stamp is that connection's.
final class ReadCache: @unchecked Sendable {
    private let perThread = ThreadLocal<Entries>()
    /// Entries per thread, and their bytes: the cache is emptied when either is
    /// reached (reads repeat, or they don't). 64 threads keep at most 8 MiB.
    static let capacity = 32
    static let byteBudget = 128 << 10
    /// Larger answers (long pages) are not kept.
    static let largestKept = 32 << 10

    struct Entry {
        let stamp: Int64
        let userID: String?
        /// What a hit is counted under: the route and endpoint that computed it.
        let metrics: HTTPMetrics.Row
        /// The route that computed it, for the log line of a hit.
        let route: Route?
        let response: APIResponse
    }

    final class Entries {
        var byKey: [String: Entry] = [:]
        var bytes = 0
    }

    deinit { perThread.delete() }

    private var entries: Entries { perThread.value { Entries() } }

    /// The key of a read: who asks (the key's hash) and exactly what.
    static func key(keyHash: String, target: String) -> String {
        keyHash + " " + target
    }

    /// Whether `response` may be kept (see above).
    static func keeps(_ response: APIResponse) -> Bool {
        response.head.status == .ok && !response.head.headerFields.contains { $0.name == .vary }
    }

    func lookup(_ key: String, stamp: Int64) -> Entry? {
        guard let entry = entries.byKey[key], entry.stamp == stamp else { return nil }
        return entry
    }

    func keep(_ key: String, _ entry: Entry) {
        let size = entry.response.body.count + key.utf8.count
        guard size <= Self.largestKept else { return }
        let entries = self.entries
        if entries.byKey.count >= Self.capacity || entries.bytes + size > Self.byteBudget {
            entries.byKey.removeAll(keepingCapacity: true)
            entries.bytes = 0
        }
        if let replaced = entries.byKey.updateValue(entry, forKey: key) {
            entries.bytes -= replaced.response.body.count + key.utf8.count
        }
        entries.bytes += size
    }
}

extension APIResponse {
    /// The same answer under another request's trace id.
    func retraced(_ traceID: String) -> APIResponse {
        var copy = self
        copy.head.headerFields[.requestID] = traceID
        return copy
    }
}
