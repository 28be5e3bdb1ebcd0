import MusicCore

/// A read connection's memo of `credentials(hash:organizationID:)`: every read
/// authenticates, and when the read cache misses, the key's lookup was an
/// eighth of a get (docs/performance.md); a client sends the same key request
/// after request.
///
/// An entry is used only in a read transaction whose snapshot is the one it
/// was read in: the connection's `PRAGMA data_version`, read inside the
/// transaction, is its snapshot's, and it moves with every commit of any other
/// connection or process (a read connection writes nothing itself). A key
/// revoked or a membership changed since is therefore looked up afresh. Only
/// found keys are kept (random keys cannot fill the memo), at most `capacity`.
///
/// One per read connection, used only by the thread that owns it.
final class ReaderCredentials {
    typealias Credentials = WriterCredentials.Credentials

    static let capacity = 64

    private var entries: [WriterCredentials.Key: Credentials] = [:]
    private var dataVersion: Int64?

    func lookup(_ key: WriterCredentials.Key, dataVersion: Int64) -> Credentials? {
        dataVersion == self.dataVersion ? entries[key] : nil
    }

    func keep(_ key: WriterCredentials.Key, _ credentials: Credentials, dataVersion: Int64) {
        if dataVersion != self.dataVersion || entries.count >= Self.capacity {
            entries.removeAll(keepingCapacity: true)
            self.dataVersion = dataVersion
        }
        entries[key] = credentials
    }
}
