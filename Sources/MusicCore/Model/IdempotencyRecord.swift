/// The first answer to a request sent with an `Idempotency-Key`, kept 24 hours
/// so that a retry with the same key and body gets the same answer. A record
/// belongs to one organization, user and key: the same key sent by the same
/// user to another organization is another request.
public struct IdempotencyRecord: Equatable, Sendable {
    public static let lifetimeSeconds: Int64 = 86_400
    public static let maximumKeyLength = 255

    public var organizationID: String
    public var userID: String
    public var key: String
    /// SHA-256 of the request body: a retry must send the same bytes.
    public var requestHash: String
    public var status: Int
    public var body: [UInt8]
    public var location: String?
    public var etag: String?
    public var createdAt: Timestamp

    public init(organizationID: String, userID: String, key: String, requestHash: String, status: Int, body: [UInt8],
                location: String?, etag: String?, createdAt: Timestamp) {
        self.organizationID = organizationID
        self.userID = userID
        self.key = key
        self.requestHash = requestHash
        self.status = status
        self.body = body
        self.location = location
        self.etag = etag
        self.createdAt = createdAt
    }

    public func isExpired(at now: Timestamp) -> Bool {
        now.secondsSince1970 - createdAt.secondsSince1970 >= Self.lifetimeSeconds
    }
}
