/// The read side of tracks: any live track of the caller's organization.
package struct TrackCatalog: Sendable {
    let store: any Store

    package init(store: any Store) {
        self.store = store
    }

    package func track(_ trackID: String, as caller: Caller) throws -> Track {
        try store.read { reader in
            guard let track = try reader.track(id: trackID, organizationID: caller.organizationID) else {
                throw MusicError.notFound(reason: "Track not found in organization", details: ["track_id": trackID])
            }
            return track
        }
    }

    /// A page of tracks: in collection order when `collectionID` is given (the
    /// collection must be the caller's), newest first otherwise.
    package func tracks(in collectionID: String?, limit: Int, offset: Int, as caller: Caller) throws -> [Track] {
        try store.read { reader in
            guard let collectionID else {
                return try reader.tracks(organizationID: caller.organizationID, limit: limit, offset: offset)
            }
            guard try reader.collection(id: collectionID, organizationID: caller.organizationID, ownerID: caller.userID) != nil else {
                throw MusicError.notFound(reason: "Collection not owned by caller", details: ["collection_id": collectionID])
            }
            return try reader.memberTracks(collectionID: collectionID, fromPosition: offset, limit: limit).map(\.track)
        }
    }
}
