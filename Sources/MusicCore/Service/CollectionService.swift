/// The rules of collections: ownership, idempotent add, dense ordering, the
/// track cap, soft delete, versions. Every change runs in one store transaction.
///
/// Inputs are validated before anything is looked up, so a request with a
/// broken field gets 422 even for a collection it cannot see (docs/api.md's check order).
package struct CollectionService: Sendable {
    let store: any Store
    let clock: any WallClock
    /// Draws the id of a new collection (tests make it collide).
    let makeCollectionID: @Sendable () -> String

    /// How many ids a create draws before it gives up (a 500): a taken id is
    /// rare (see `Identifier.makeOrdered`), eight in a row would mean a broken generator.
    static let collectionIDDraws = 8

    package init(store: any Store, clock: any WallClock = SystemClock(),
                makeCollectionID: @escaping @Sendable () -> String = { Identifier.makeOrdered(Identifier.collection) }) {
        self.store = store
        self.clock = clock
        self.makeCollectionID = makeCollectionID
    }

    /// Every id a create drew was taken already.
    package struct CollectionIDsExhausted: Error, CustomStringConvertible {
        package var description: String { "\(CollectionService.collectionIDDraws) collection ids drawn in a row were all taken" }
    }

    /// What adding or removing a member did.
    package enum MembershipChange: Equatable, Sendable {
        case changed
        case unchanged
    }

    // MARK: Collections

    package func create(_ draft: CollectionDraft, as caller: Caller) throws -> MusicCollection {
        try CollectionRules.checkName(draft.name)
        if let description = draft.description { try CollectionRules.checkDescription(description) }
        if let trackID = draft.coverTrackID { try CollectionRules.checkTrackReference(trackID, field: "cover_track_id") }
        if let url = draft.coverImageURL { try CollectionRules.checkCoverImageURL(url) }
        let now = clock.now()
        return try store.write { writer in
            if let trackID = draft.coverTrackID {
                try requireTrack(trackID, field: "cover_track_id", in: writer, caller: caller)
            }
            for _ in 0..<Self.collectionIDDraws {
                let collection = MusicCollection(
                    id: makeCollectionID(), organizationID: caller.organizationID,
                    ownerID: caller.userID, name: draft.name, description: draft.description,
                    coverTrackID: draft.coverTrackID, coverImageURL: draft.coverImageURL,
                    createdAt: now, updatedAt: now
                )
                if try writer.insertIfIDFree(collection) { return collection }
            }
            throw CollectionIDsExhausted()
        }
    }

    package func list(limit: Int, offset: Int, as caller: Caller) throws -> [MusicCollection] {
        try store.read { reader in
            try reader.collections(organizationID: caller.organizationID, ownerID: caller.userID, limit: limit, offset: offset)
        }
    }

    package func get(_ collectionID: String, as caller: Caller) throws -> MusicCollection {
        try store.read { reader in try requireCollection(collectionID, in: reader, caller: caller) }
    }

    package func update(_ collectionID: String, with patch: CollectionPatch, ifMatch: IfMatch?, as caller: Caller) throws -> MusicCollection {
        if let name = patch.name { try CollectionRules.checkName(name) }
        if case .set(let description) = patch.description { try CollectionRules.checkDescription(description) }
        if case .set(let trackID) = patch.coverTrackID { try CollectionRules.checkTrackReference(trackID, field: "cover_track_id") }
        if case .set(let url) = patch.coverImageURL { try CollectionRules.checkCoverImageURL(url) }
        let now = clock.now()
        return try store.write { writer in
            var collection = try requireCollection(collectionID, in: writer, caller: caller)
            if case .set(let trackID) = patch.coverTrackID, trackID != collection.coverTrackID {
                try requireTrack(trackID, field: "cover_track_id", in: writer, caller: caller)
            }
            try check(ifMatch, against: collection)
            let before = collection
            if let name = patch.name { collection.name = name }
            apply(patch.description, to: &collection.description)
            apply(patch.coverTrackID, to: &collection.coverTrackID)
            apply(patch.coverImageURL, to: &collection.coverImageURL)
            guard collection != before else { return collection }
            touch(&collection, at: now)
            try writer.update(collection)
            return collection
        }
    }

    /// Soft delete: the row stays, the collection is gone from every endpoint.
    package func delete(_ collectionID: String, as caller: Caller) throws {
        let now = clock.now()
        try store.write { writer in
            var collection = try requireCollection(collectionID, in: writer, caller: caller)
            collection.deletedAt = now
            touch(&collection, at: now)
            try writer.update(collection)
        }
    }

    // MARK: Members

    /// Appends the track; adding a member again changes nothing, not even `updated_at`.
    package func addTrack(_ trackID: String, to collectionID: String, as caller: Caller) throws -> (MembershipChange, MusicCollection) {
        try CollectionRules.checkTrackReference(trackID, field: "track_id")
        let now = clock.now()
        return try store.write { writer in
            var collection = try requireCollection(collectionID, in: writer, caller: caller)
            guard try writer.trackExists(id: trackID, organizationID: caller.organizationID) else {
                throw MusicError.notFound(
                    reason: "Collection not owned by caller or track not found",
                    details: ["collection_id": collectionID, "track_id": trackID]
                )
            }
            if try writer.memberPosition(collectionID: collectionID, trackID: trackID) != nil {
                return (.unchanged, collection)
            }
            guard collection.trackCount < CollectionRules.maxTracks else {
                throw MusicError.collectionFull(limit: CollectionRules.maxTracks)
            }
            try writer.appendMember(collectionID: collectionID, trackID: trackID, position: collection.trackCount, addedAt: now)
            collection.trackCount += 1
            touch(&collection, at: now)
            try writer.update(collection)
            return (.changed, collection)
        }
    }

    /// Removes the track and closes the gap; a non-member changes nothing.
    package func removeTrack(_ trackID: String, from collectionID: String, as caller: Caller) throws -> (MembershipChange, MusicCollection) {
        let now = clock.now()
        return try store.write { writer in
            var collection = try requireCollection(collectionID, in: writer, caller: caller)
            guard let position = try writer.memberPosition(collectionID: collectionID, trackID: trackID) else {
                return (.unchanged, collection)
            }
            try writer.removeMember(collectionID: collectionID, trackID: trackID, position: position)
            collection.trackCount -= 1
            touch(&collection, at: now)
            try writer.update(collection)
            return (.changed, collection)
        }
    }

    /// A page of members, position ascending, with the collection they were read with.
    package func members(of collectionID: String, limit: Int, offset: Int, as caller: Caller) throws -> (MusicCollection, MemberPage) {
        try store.read { reader in
            let collection = try requireCollection(collectionID, in: reader, caller: caller)
            let page = try reader.members(collectionID: collectionID, fromPosition: offset, limit: limit)
            return (collection, page)
        }
    }

    /// Listed members take positions 0..k-1 in the order given; the others follow
    /// in their previous relative order; ids that are not members are ignored.
    package func reorder(_ collectionID: String, to orderedTrackIDs: [String], ifMatch: IfMatch?, as caller: Caller) throws -> MusicCollection {
        guard orderedTrackIDs.count <= CollectionRules.maxTracks else {
            throw MusicError.validation(field: "ordered_track_ids", reason: "ordered_track_ids must hold at most \(CollectionRules.maxTracks) ids")
        }
        var seen = Set<String>(minimumCapacity: orderedTrackIDs.count)
        for id in orderedTrackIDs where !seen.insert(id).inserted {
            throw MusicError.validation(field: "ordered_track_ids", reason: "ordered_track_ids must not contain duplicates")
        }
        let now = clock.now()
        return try store.write { writer in
            var collection = try requireCollection(collectionID, in: writer, caller: caller)
            try check(ifMatch, against: collection)
            let current = try writer.memberTrackIDs(collectionID: collectionID)
            let members = Set(current)
            let listed = orderedTrackIDs.filter { members.contains($0) }
            let listedSet = Set(listed)
            let newOrder = listed + current.filter { !listedSet.contains($0) }
            guard newOrder != current else { return collection }
            try writer.reorderMembers(collectionID: collectionID, from: current, to: newOrder)
            touch(&collection, at: now)
            try writer.update(collection)
            return collection
        }
    }

    // MARK: Helpers

    private func requireCollection(_ id: String, in reader: any StoreReader, caller: Caller) throws -> MusicCollection {
        guard let collection = try reader.collection(id: id, organizationID: caller.organizationID, ownerID: caller.userID) else {
            throw MusicError.notFound(reason: "Collection not owned by caller", details: ["collection_id": id])
        }
        return collection
    }

    private func requireTrack(_ id: String, field: String, in reader: any StoreReader, caller: Caller) throws {
        guard try reader.trackExists(id: id, organizationID: caller.organizationID) else {
            throw MusicError.notFound(reason: "Track not found in organization", details: ["field": field, "track_id": id])
        }
    }

    private func check(_ ifMatch: IfMatch?, against collection: MusicCollection) throws {
        if let ifMatch, !ifMatch.isSatisfied(by: collection) { throw MusicError.preconditionFailed }
    }

    private func apply<Value>(_ update: FieldUpdate<Value>, to field: inout Value?) {
        switch update {
        case .keep: break
        case .clear: field = nil
        case .set(let value): field = value
        }
    }

    private func touch(_ collection: inout MusicCollection, at now: Timestamp) {
        collection.version += 1
        collection.updatedAt = now
    }
}
