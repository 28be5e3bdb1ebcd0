/// A link that opens a collection without an API key. Only the SHA-256 of its
/// token is stored; the raw token is shown once, when the link is created.
public struct ShareLink: Equatable, Sendable {
    public enum Visibility: String, Sendable, CaseIterable {
        case linkOnly = "link_only"
        case `public` = "public"
    }

    public var id: String
    public var tokenHash: String
    public var collectionID: String
    public var organizationID: String
    public var ownerID: String
    public var visibility: Visibility
    public var expiresAt: Timestamp?
    public var createdAt: Timestamp
    public var revokedAt: Timestamp?

    public init(
        id: String, tokenHash: String, collectionID: String, organizationID: String, ownerID: String,
        visibility: Visibility, expiresAt: Timestamp?, createdAt: Timestamp, revokedAt: Timestamp? = nil
    ) {
        self.id = id
        self.tokenHash = tokenHash
        self.collectionID = collectionID
        self.organizationID = organizationID
        self.ownerID = ownerID
        self.visibility = visibility
        self.expiresAt = expiresAt
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    /// Whether the link opens at `now`: not revoked, not expired.
    public func isLive(at now: Timestamp) -> Bool {
        guard revokedAt == nil else { return false }
        if let expiresAt, now >= expiresAt { return false }
        return true
    }
}
