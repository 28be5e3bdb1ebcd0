import MusicCore

/// The writer connection's memo of `credentials(hash:organizationID:)`. Every
/// write authenticates inside its own transaction, on the one writer thread,
/// and that lookup is a large share of the writer's work (docs/performance.md);
/// a client sends the same key write after write.
///
/// An entry is used only while it is certainly what the database holds:
/// - another connection's commit (a key revoked by `music-admin`, a write of
///   another worker process) moves the writer connection's `PRAGMA data_version`,
///   read once at the start of each group transaction: then every entry goes;
/// - this connection's own writes do not move it, so every write to the tables
///   the lookup reads (`api_keys`, `memberships`; users and organizations too)
///   drops every entry, and until that group transaction ends nothing is kept
///   (what a lookup sees then may yet be rolled back);
/// - migrations and restores (`GroupCommit.exclusive`) drop every entry.
/// Only found keys are kept (an unknown key is looked up each time, so random
/// keys cannot fill the memo), at most `capacity` of them.
///
/// Used on the writer thread within a group transaction, or under the writer
/// lock (`exclusive`): never by two threads at once.
final class WriterCredentials: @unchecked Sendable {
    struct Key: Hashable {
        let hash: String
        let organizationID: String
    }

    typealias Credentials = (key: APIKeyRecord, membership: Membership?)

    static let capacity = 4_096

    private var entries: [Key: Credentials] = [:]
    private var dataVersion: Int64?
    private var writtenInThisTransaction = false

    /// A group transaction began; `dataVersion` is the writer connection's
    /// `PRAGMA data_version` inside it (nil if it could not be read: then
    /// nothing is known, and every entry goes).
    func transactionBegan(dataVersion: Int64?) {
        if dataVersion == nil || dataVersion != self.dataVersion { entries.removeAll(keepingCapacity: true) }
        self.dataVersion = dataVersion
        writtenInThisTransaction = false
    }

    /// This connection wrote credentials (or replaced the database).
    func credentialsChanged() {
        entries.removeAll(keepingCapacity: true)
        writtenInThisTransaction = true
    }

    /// Outside any group transaction: a migration or a restore replaced what the memo knew.
    func forgetAll() {
        entries.removeAll(keepingCapacity: true)
        dataVersion = nil
    }

    func lookup(_ key: Key) -> Credentials? {
        writtenInThisTransaction ? nil : entries[key]
    }

    func keep(_ key: Key, _ credentials: Credentials) {
        guard !writtenInThisTransaction else { return }
        if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
        entries[key] = credentials
    }
}
