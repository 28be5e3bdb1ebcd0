/// What a PATCH does to one optional field.
public enum FieldUpdate<Value: Equatable & Sendable>: Equatable, Sendable {
    /// Omitted: untouched.
    case keep
    /// `null`: cleared.
    case clear
    case set(Value)
}

/// A partial update of a collection.
public struct CollectionPatch: Equatable, Sendable {
    public var name: String?
    public var description: FieldUpdate<String>
    public var coverTrackID: FieldUpdate<String>
    public var coverImageURL: FieldUpdate<String>

    public init(
        name: String? = nil, description: FieldUpdate<String> = .keep,
        coverTrackID: FieldUpdate<String> = .keep, coverImageURL: FieldUpdate<String> = .keep
    ) {
        self.name = name
        self.description = description
        self.coverTrackID = coverTrackID
        self.coverImageURL = coverImageURL
    }
}
