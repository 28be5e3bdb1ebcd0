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
