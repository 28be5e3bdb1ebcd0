/// What a PATCH does to one optional field.
package enum FieldUpdate<Value: Equatable & Sendable>: Equatable, Sendable {
    /// Omitted: untouched.
    case keep
    /// `null`: cleared.
    case clear
    case set(Value)
}

/// A partial update of a collection.
package struct CollectionPatch: Equatable, Sendable {
    package var name: String?
    package var description: FieldUpdate<String>
    package var coverTrackID: FieldUpdate<String>
    package var coverImageURL: FieldUpdate<String>

    package init(
        name: String? = nil, description: FieldUpdate<String> = .keep,
        coverTrackID: FieldUpdate<String> = .keep, coverImageURL: FieldUpdate<String> = .keep
    ) {
        self.name = name
        self.description = description
        self.coverTrackID = coverTrackID
        self.coverImageURL = coverImageURL
    }
}
