import MusicSupport

/// A raw key checked for form and hashed, with no database involved: done before
/// a request's transaction, so that a write spends on the one writer thread
/// only what needs the database.
package struct PresentedKey: Sendable {
    /// The key's hash, or the 401 a missing or malformed key gets.
    let outcome: Result<String, MusicError>

    package init(_ raw: String?) {
        if let raw, !raw.isEmpty {
            outcome = APIKey.isWellFormed(raw) ? .success(LastKeyHash.hash(raw)) : .failure(.invalidAPIKey)
        } else {
            outcome = .failure(.authenticationRequired)
        }
    }

    /// The hash of a well-formed key.
    package var hash: String? { try? outcome.get() }

    /// The hash of a well-formed key, else the 401 of a missing or malformed one.
    package func checkedHash() throws(MusicError) -> String { try outcome.get() }
}

/// The hash of the last key each thread hashed: a client sends the same key
/// request after request, and a SHA-256 per request is a large share of a cached
/// read (docs/performance.md). The keys are compared in constant time, so how long the
/// comparison takes says nothing about the key that came before.
private enum LastKeyHash {
    private final class Memo {
        var key = ""
        var hash = ""
    }

    private static let perThread = ThreadLocal<Memo>()

    static func hash(_ key: String) -> String {
        let memo = perThread.value { Memo() }
        if !memo.hash.isEmpty && APIKey.constantTimeEquals(key, memo.key) { return memo.hash }
        memo.key = key
        memo.hash = APIKey.hash(key)
        return memo.hash
    }
}
