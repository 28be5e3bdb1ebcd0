/// Share links to collections and tracks: create (owner or creator only),
/// revoke, open without a key.
package struct ShareService: Sendable {
    let store: any Store
    let clock: any WallClock

    package static let maximumDays = 90

    package init(store: any Store, clock: any WallClock = SystemClock()) {
        self.store = store
        self.clock = clock
    }

    /// Creates a link to the caller's collection; returns it with the raw token,
    /// which is never stored. Days above 90 become 90; `nil` never expires.
    package func create(for collectionID: String, visibility: ShareLink.Visibility, expiresInDays days: Int?,
                       as caller: Caller) throws -> (ShareLink, token: String) {
        try create(.collection(collectionID), visibility: visibility, expiresInDays: days, as: caller) { writer in
            guard try writer.collection(id: collectionID, organizationID: caller.organizationID, ownerID: caller.userID) != nil else {
                throw MusicError.notFound(reason: "Collection not owned by caller", details: ["collection_id": collectionID])
            }
        }
    }

    /// Creates a link to a track the caller made, with the rules of a
    /// collection's link. Another member's track, a deleted one and none at all
    /// are the same 404.
    package func createForTrack(_ trackID: String, visibility: ShareLink.Visibility, expiresInDays days: Int?,
                               as caller: Caller) throws -> (ShareLink, token: String) {
        try create(.track(trackID), visibility: visibility, expiresInDays: days, as: caller) { writer in
            guard let track = try writer.track(id: trackID, organizationID: caller.organizationID), track.ownerID == caller.userID else {
                throw MusicError.notFound(reason: "Track not created by caller", details: ["track_id": trackID])
            }
        }
    }

    /// `check`: runs in the write that inserts the link, throwing when the
    /// caller may not share the target.
    private func create(_ target: ShareLink.Target, visibility: ShareLink.Visibility, expiresInDays days: Int?,
                        as caller: Caller, check: (any StoreWriter) throws -> Void) throws -> (ShareLink, token: String) {
        if let days, days < 1 {
            throw MusicError.validation(field: "expires_in_days", reason: "expires_in_days must be an integer >= 1")
        }
        let now = clock.now()
        let token = ShareToken.generate()
        let link = ShareLink(
            id: Identifier.make(Identifier.shareLink), tokenHash: ShareToken.hash(token), target: target,
            organizationID: caller.organizationID, ownerID: caller.userID, visibility: visibility,
            expiresAt: days.map { Timestamp(secondsSince1970: now.secondsSince1970 + Int64(min($0, Self.maximumDays)) * 86_400) },
            createdAt: now
        )
        try store.write { writer in
            try check(writer)
            try writer.insert(link)
        }
        return (link, token)
    }

    /// Revokes one of the caller's links; revoking again answers the same.
    package func revoke(_ shareID: String, as caller: Caller) throws {
        let now = clock.now()
        try store.write { writer in
            guard try writer.shareLink(id: shareID, organizationID: caller.organizationID, ownerID: caller.userID) != nil else {
                throw MusicError.notFound(reason: "Share link not owned by caller", details: ["share_id": shareID])
            }
            try writer.revokeShareLink(id: shareID, at: now)
        }
    }

    /// What a token opens. A collection's link: every live track, or those of
    /// one page (`limit` tracks from position `fromPosition` on); a track's
    /// link: the track (`page` does not apply). A collection or track deleted
    /// since is nil in the view. Unknown, revoked and expired tokens are one and
    /// the same 404, so a token's history is not revealed.
    package func open(token: String, page: (limit: Int, fromPosition: Int)? = nil) throws -> SharedView {
        let notFound = MusicError.notFound(reason: "Unknown, revoked or expired share link", details: [:])
        guard ShareToken.isWellFormed(token) else { throw notFound }
        let now = clock.now()
        let tokenHash = ShareToken.hash(token)
        return try store.read { reader in
            guard let link = try reader.shareLink(tokenHash: tokenHash),
                  APIKey.constantTimeEquals(link.tokenHash, tokenHash), link.isLive(at: now) else {
                throw notFound
            }
            switch link.target {
            case .track(let trackID):
                return SharedView(link: link, content: .track(try reader.track(id: trackID, organizationID: link.organizationID)))
            case .collection(let collectionID):
                guard let collection = try reader.anyCollection(id: collectionID), collection.deletedAt == nil else {
                    return SharedView(link: link, content: .collection(nil, tracks: []))
                }
                let tracks = try reader.memberTracks(collectionID: collection.id, fromPosition: page?.fromPosition ?? 0,
                                                     limit: page?.limit ?? CollectionRules.maxTracks)
                return SharedView(link: link, content: .collection(collection, tracks: tracks))
            }
        }
    }
}
