/// A link that opens a collection or a track without an API key. Only the
/// SHA-256 of its token is stored; the raw token is shown once, when the link
/// is created.
public struct ShareLink: Equatable, Sendable {
    public enum Visibility: String, Sendable, CaseIterable {
        case linkOnly = "link_only"
        case `public` = "public"
    }

    /// What the link opens, by id.
    public enum Target: Equatable, Sendable {
        case collection(String)
        case track(String)

        /// The name the API and the database give the kind (`target_type`).
        public var type: String {
            switch self {
            case .collection: "collection"
            case .track: "track"
            }
        }
    }

    public var id: String
    public var tokenHash: String
    public var target: Target
    public var organizationID: String
    public var ownerID: String
    public var visibility: Visibility
    public var expiresAt: Timestamp?
    public var createdAt: Timestamp
    public var revokedAt: Timestamp?

    public init(
        id: String, tokenHash: String, target: Target, organizationID: String, ownerID: String,
        visibility: Visibility, expiresAt: Timestamp?, createdAt: Timestamp, revokedAt: Timestamp? = nil
    ) {
        self.id = id
        self.tokenHash = tokenHash
        self.target = target
        self.organizationID = organizationID
        self.ownerID = ownerID
        self.visibility = visibility
        self.expiresAt = expiresAt
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    /// A link to a collection.
    public init(
        id: String, tokenHash: String, collectionID: String, organizationID: String, ownerID: String,
        visibility: Visibility, expiresAt: Timestamp?, createdAt: Timestamp, revokedAt: Timestamp? = nil
    ) {
        self.init(id: id, tokenHash: tokenHash, target: .collection(collectionID), organizationID: organizationID,
                  ownerID: ownerID, visibility: visibility, expiresAt: expiresAt, createdAt: createdAt, revokedAt: revokedAt)
    }

    /// The shared collection's id; nil for a track's link.
    public var collectionID: String? {
        if case .collection(let id) = target { id } else { nil }
    }

    /// The shared track's id; nil for a collection's link.
    public var trackID: String? {
        if case .track(let id) = target { id } else { nil }
    }

    /// Whether the link opens at `now`: not revoked, not expired.
    public func isLive(at now: Timestamp) -> Bool {
        guard revokedAt == nil else { return false }
        if let expiresAt, now >= expiresAt { return false }
        return true
    }
}
