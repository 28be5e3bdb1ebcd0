/// An organization: the tenant that owns tracks.
public struct Organization: Equatable, Sendable {
    public var id: String
    public var name: String
    public var createdAt: Timestamp

    public init(id: String, name: String, createdAt: Timestamp) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
    }
}

/// A person or service account; a key belongs to one user.
public struct User: Equatable, Sendable {
    public var id: String
    public var email: String
    public var createdAt: Timestamp

    public init(id: String, email: String, createdAt: Timestamp) {
        self.id = id
        self.email = email
        self.createdAt = createdAt
    }
}

/// A capability a member holds in one organization.
public struct Capability: RawRepresentable, Hashable, Sendable {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Needed by every collection endpoint.
    public static let useMusicGeneration = Capability(rawValue: "USE_MUSIC_GENERATION")
}

/// A user's membership of an organization, with its capabilities there.
public struct Membership: Equatable, Sendable {
    public var organizationID: String
    public var userID: String
    public var capabilities: Set<Capability>

    public init(organizationID: String, userID: String, capabilities: Set<Capability>) {
        self.organizationID = organizationID
        self.userID = userID
        self.capabilities = capabilities
    }
}

/// A stored API key: only the hash of the raw key is kept.
public struct APIKeyRecord: Equatable, Sendable {
    public var id: String
    public var userID: String
    public var hash: String
    public var active: Bool
    public var createdAt: Timestamp

    public init(id: String, userID: String, hash: String, active: Bool, createdAt: Timestamp) {
        self.id = id
        self.userID = userID
        self.hash = hash
        self.active = active
        self.createdAt = createdAt
    }
}

/// The authenticated caller of one request, allowed in one organization.
public struct Caller: Equatable, Sendable {
    public var userID: String
    public var organizationID: String

    public init(userID: String, organizationID: String) {
        self.userID = userID
        self.organizationID = organizationID
    }
}
