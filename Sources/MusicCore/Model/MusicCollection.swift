/// A user's ordered group of tracks, as stored.
public struct MusicCollection: Equatable, Sendable {
    public var id: String
    public var organizationID: String
    public var ownerID: String
    public var name: String
    public var description: String?
    public var coverTrackID: String?
    public var coverImageURL: String?
    public var trackCount: Int
    /// Incremented on every change to the collection or its membership: the ETag.
    public var version: Int
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var deletedAt: Timestamp?

    public init(
        id: String, organizationID: String, ownerID: String, name: String,
        description: String? = nil, coverTrackID: String? = nil, coverImageURL: String? = nil,
        trackCount: Int = 0, version: Int = 1, createdAt: Timestamp, updatedAt: Timestamp,
        deletedAt: Timestamp? = nil
    ) {
        self.id = id
        self.organizationID = organizationID
        self.ownerID = ownerID
        self.name = name
        self.description = description
        self.coverTrackID = coverTrackID
        self.coverImageURL = coverImageURL
        self.trackCount = trackCount
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.deletedAt = deletedAt
    }

    /// The strong entity tag of this state of the collection.
    public var etag: String { "\"\(id)-\(version)\"" }
}
