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
