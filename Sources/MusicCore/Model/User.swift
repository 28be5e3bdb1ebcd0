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
