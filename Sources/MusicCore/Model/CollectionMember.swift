/// One track's place in a collection.
public struct CollectionMember: Equatable, Sendable {
    public var trackID: String
    public var position: Int
    public var addedAt: Timestamp

    public init(trackID: String, position: Int, addedAt: Timestamp) {
        self.trackID = trackID
        self.position = position
        self.addedAt = addedAt
    }
}
