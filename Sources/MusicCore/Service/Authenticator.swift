#if canImport(Glibc)
import Glibc
#endif

/// Who is calling, and may they use collections in this organization?
/// Check order of docs/api.md: 401 (no, malformed, unknown or revoked key) before
/// 403 (not a member, or a member without the capability).
public struct Authenticator: Sendable {
    let store: any Store

    public init(store: any Store) {
        self.store = store
    }

    /// `key` is the raw key from `X-API-Key` or `Authorization: Bearer`, `nil` when none was sent.
    public func authenticate(key: String?, organizationID: String) throws -> Caller {
        try authenticate(PresentedKey(key), organizationID: organizationID)
    }

    /// The caller of a key already checked for form and hashed.
    public func authenticate(_ presented: PresentedKey, organizationID: String) throws -> Caller {
        let hash = try presented.outcome.get()
        return try store.read { reader in
            guard let (record, membership) = try reader.credentials(hash: hash, organizationID: organizationID),
                  APIKey.constantTimeEquals(record.hash, hash) else {
                throw MusicError.invalidAPIKey
            }
            guard record.active else { throw MusicError.apiKeyDeactivated }
            guard let membership else { throw MusicError.organizationAccessDenied }
            guard membership.capabilities.contains(.useMusicGeneration) else {
                throw MusicError.insufficientPermissions
            }
            return Caller(userID: record.userID, organizationID: organizationID)
        }
    }
}

/// A raw key checked for form and hashed, with no database involved: done before
/// a request's transaction, so that a write spends on the one writer thread
/// only what needs the database.
public struct PresentedKey: Sendable {
    /// The key's hash, or the 401 a missing or malformed key gets.
    let outcome: Result<String, MusicError>

    public init(_ raw: String?) {
        if let raw, !raw.isEmpty {
            outcome = APIKey.isWellFormed(raw) ? .success(LastKeyHash.hash(raw)) : .failure(.invalidAPIKey)
        } else {
            outcome = .failure(.authenticationRequired)
        }
    }

    /// The hash of a well-formed key.
    public var hash: String? { try? outcome.get() }

    /// The hash of a well-formed key, else the 401 of a missing or malformed one.
    public func checkedHash() throws(MusicError) -> String { try outcome.get() }
}

/// The hash of the last key each thread hashed: a client sends the same key
/// request after request, and SHA-256 was a tenth of a cached read's
/// instructions. The keys are compared in constant time, so how long the
/// comparison takes says nothing about the key that came before.
private enum LastKeyHash {
    private final class Memo {
        var key = ""
        var hash = ""
    }

    private static let slot: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { raw in
            if let raw { Unmanaged<Memo>.fromOpaque(raw).release() }
        }
        return key
    }()

    static func hash(_ key: String) -> String {
        let memo: Memo
        if let raw = pthread_getspecific(slot) {
            memo = Unmanaged<Memo>.fromOpaque(raw).takeUnretainedValue()
        } else {
            memo = Memo()
            pthread_setspecific(slot, Unmanaged.passRetained(memo).toOpaque())
        }
        if !memo.hash.isEmpty && APIKey.constantTimeEquals(key, memo.key) { return memo.hash }
        memo.key = key
        memo.hash = APIKey.hash(key)
        return memo.hash
    }
}
