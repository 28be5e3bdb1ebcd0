/// Who is calling, and may they use collections in this organization?
/// Check order of API.md: 401 (no, malformed, unknown or revoked key) before
/// 403 (not a member, or a member without the capability).
public struct Authenticator: Sendable {
    let store: any Store

    public init(store: any Store) {
        self.store = store
    }

    /// `key` is the raw key from `X-API-Key` or `Authorization: Bearer`, `nil` when none was sent.
    public func authenticate(key: String?, organizationID: String) throws -> Caller {
        guard let key, !key.isEmpty else { throw MusicError.authenticationRequired }
        guard APIKey.isWellFormed(key) else { throw MusicError.invalidAPIKey }
        let hash = APIKey.hash(key)
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
