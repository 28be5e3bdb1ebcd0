/// A track with its place in a collection.
public struct CollectionTrack: Equatable, Sendable {
    public var track: Track
    public var position: Int

    public init(track: Track, position: Int) {
        self.track = track
        self.position = position
    }
}
