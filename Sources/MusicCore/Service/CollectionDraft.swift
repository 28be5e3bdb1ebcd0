/// The fields of a new collection, as the caller sent them (types already checked).
public struct CollectionDraft: Equatable, Sendable {
    public var name: String
    public var description: String?
    public var coverTrackID: String?
    public var coverImageURL: String?

    public init(name: String, description: String? = nil, coverTrackID: String? = nil, coverImageURL: String? = nil) {
        self.name = name
        self.description = description
        self.coverTrackID = coverTrackID
        self.coverImageURL = coverImageURL
    }
}
