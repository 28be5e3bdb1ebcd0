/// What a share link shows.
public struct SharedCollectionView: Equatable, Sendable {
    public var link: ShareLink
    /// `nil` when the collection was deleted after sharing.
    public var collection: MusicCollection?
    /// The live tracks of the collection, in collection order.
    public var tracks: [CollectionTrack]
}

/// A track with its place in a collection.
public struct CollectionTrack: Equatable, Sendable {
    public var track: Track
    public var position: Int

    public init(track: Track, position: Int) {
        self.track = track
        self.position = position
    }
}
