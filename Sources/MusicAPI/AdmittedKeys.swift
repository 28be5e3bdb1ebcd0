import MusicCore
import MusicSupport
#if canImport(Glibc)
import Glibc
#endif

/// The keys (by hash, with the organization) that authenticated on this thread
/// lately: the gate a change passes before it may queue on the store's writer.
///
/// Writes run one after another on one writer (SQLite's group commit), so a
/// request whose key is unknown, revoked or not a member must be refused before
/// it gets there: otherwise anyone can fill the writer's queue with made-up keys.
/// A change therefore authenticates in a read first, unless its key and
/// organization are here. Being here only lets a request reach the write, which
/// authenticates again, authoritatively, in its own transaction: a key revoked
/// since is still refused there, and then forgotten here (`forget`), so each
/// thread lets at most one request of a revoked key reach the writer.
///
/// Per thread (nothing shared, nothing locked), small, and emptied when full:
/// a client sends the same key request after request.
final class AdmittedKeys: @unchecked Sendable {
    private let perThread = ThreadLocal<Entries>()
    static let capacity = 16

    private final class Entries {
        var pairs: [(keyHash: String, organizationID: String)] = []
    }

    deinit { perThread.delete() }

    private var entries: Entries { perThread.value { Entries() } }

    private func index(_ keyHash: String, _ organizationID: String, in entries: Entries) -> Int? {
        entries.pairs.firstIndex { APIKey.constantTimeEquals($0.keyHash, keyHash) && $0.organizationID == organizationID }
    }

    func contains(keyHash: String, organizationID: String) -> Bool {
        index(keyHash, organizationID, in: entries) != nil
    }

    func admit(keyHash: String, organizationID: String) {
        let entries = self.entries
        guard index(keyHash, organizationID, in: entries) == nil else { return }
        if entries.pairs.count >= Self.capacity { entries.pairs.removeAll(keepingCapacity: true) }
        entries.pairs.append((keyHash, organizationID))
    }

    func forget(keyHash: String, organizationID: String) {
        let entries = self.entries
        if let index = index(keyHash, organizationID, in: entries) { entries.pairs.remove(at: index) }
    }
}
