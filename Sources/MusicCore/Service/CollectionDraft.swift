/// The fields of a new collection, as the caller sent them (types already checked).
package struct CollectionDraft: Equatable, Sendable {
    package var name: String
    package var description: String?
    package var coverTrackID: String?
    package var coverImageURL: String?

    package init(name: String, description: String? = nil, coverTrackID: String? = nil, coverImageURL: String? = nil) {
        self.name = name
        self.description = description
        self.coverTrackID = coverTrackID
        self.coverImageURL = coverImageURL
    }
}
