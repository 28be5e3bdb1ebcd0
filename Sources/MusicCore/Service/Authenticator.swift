#if canImport(Glibc)
import Glibc
#endif

/// Who is calling, and may they use collections in this organization?
/// Check order of docs/api.md: 401 (no, malformed, unknown or revoked key) before
/// 403 (not a member, or a member without the capability).
package struct Authenticator: Sendable {
    let store: any Store

    package init(store: any Store) {
        self.store = store
    }

    /// `key` is the raw key from `X-API-Key` or `Authorization: Bearer`, `nil` when none was sent.
    package func authenticate(key: String?, organizationID: String) throws -> Caller {
        try authenticate(PresentedKey(key), organizationID: organizationID)
    }

    /// The caller of a key already checked for form and hashed.
    package func authenticate(_ presented: PresentedKey, organizationID: String) throws -> Caller {
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
