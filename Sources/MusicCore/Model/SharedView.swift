/// What a share link shows, for either kind of link (`ShareService.open`).
/// Both the JSON view and the HTML page are rendered from it.
public struct SharedView: Equatable, Sendable {
    public enum Content: Equatable, Sendable {
        /// A track share; the track is nil when it was deleted after sharing.
        case track(Track?)
        /// A collection share; the collection is nil when it was deleted after
        /// sharing. `tracks`: the live tracks of the page asked for, in order.
        case collection(MusicCollection?, tracks: [CollectionTrack])
    }

    public var link: ShareLink
    public var content: Content

    public init(link: ShareLink, content: Content) {
        self.link = link
        self.content = content
    }

    /// Whether the shared item still exists (the JSON view's `available`).
    public var available: Bool {
        switch content {
        case .track(let track): track != nil
        case .collection(let collection, _): collection != nil
        }
    }
}
