import GRDB
import MusicCore

/// The queries and changes of one transaction, in SQLite's dialect: the
/// statements are `StatementID`'s, prepared once per connection
/// (`StatementCache`) and run through SQLite's API (`first`, `all` and
/// `execute`, in RawStatement.swift); rows become models through `RowMapping`.
struct SQLiteTransaction: StoreWriter {
    let db: Database
    /// The connection's prepared statements.
    let statements: StatementCache
    /// The writer connection's credentials memo, in a transaction on that connection.
    var writerCredentials: WriterCredentials?
    /// A read connection's credentials memo, in a read transaction on that connection.
    var readerCredentials: ReaderCredentials?

    // MARK: Identity

    func membership(userID: String, organizationID: String) throws -> Membership? {
        try first(.membership, [userID, organizationID]) { row in
            RowMapping.membership(capabilities: row.string(0), userID: userID, organizationID: organizationID)
        }
    }

    /// Key and membership in one statement (every request authenticates).
    func credentials(hash: String, organizationID: String) throws -> (key: APIKeyRecord, membership: Membership?)? {
        if let readerCredentials {
            // Inside the read transaction: the data version of its snapshot.
            guard let version = try first(.dataVersion, [], { $0.int64(0) }) else {
                return try credentialsFromDatabase(hash: hash, organizationID: organizationID)
            }
            let memoKey = WriterCredentials.Key(hash: hash, organizationID: organizationID)
            if let kept = readerCredentials.lookup(memoKey, dataVersion: version) { return kept }
            guard let found = try credentialsFromDatabase(hash: hash, organizationID: organizationID) else { return nil }
            readerCredentials.keep(memoKey, found, dataVersion: version)
            return found
        }
        guard let writerCredentials else { return try credentialsFromDatabase(hash: hash, organizationID: organizationID) }
        let memoKey = WriterCredentials.Key(hash: hash, organizationID: organizationID)
        if let kept = writerCredentials.lookup(memoKey) { return kept }
        guard let found = try credentialsFromDatabase(hash: hash, organizationID: organizationID) else { return nil }
        writerCredentials.keep(memoKey, found)
        return found
    }

    private func credentialsFromDatabase(hash: String, organizationID: String) throws -> (key: APIKeyRecord, membership: Membership?)? {
        try first(.credentials, [organizationID, hash]) { row in
            let key = RowMapping.apiKey(row)
            let membership = row.optionalString(5).map {
                RowMapping.membership(capabilities: $0, userID: key.userID, organizationID: organizationID)
            }
            return (key, membership)
        }
    }

    func organization(id: String) throws -> Organization? {
        try first(.organization, [id]) { RowMapping.organization($0) }
    }

    func user(id: String) throws -> User? {
        try first(.user, [id]) { RowMapping.user($0) }
    }

    func insert(_ organization: Organization) throws {
        writerCredentials?.credentialsChanged()
        try execute(.insertOrganization, [organization.id, organization.name, organization.createdAt.secondsSince1970])
    }

    func insert(_ user: User) throws {
        writerCredentials?.credentialsChanged()
        try execute(.insertUser, [user.id, user.email, user.createdAt.secondsSince1970])
    }

    func upsert(_ membership: Membership) throws {
        writerCredentials?.credentialsChanged()
        try execute(.upsertMembership, [membership.organizationID, membership.userID,
                                        RowMapping.capabilitiesText(membership.capabilities)])
    }

    func removeMembership(userID: String, organizationID: String) throws -> Bool {
        writerCredentials?.credentialsChanged()
        try execute(.deleteMembership, [userID, organizationID])
        return db.changesCount > 0
    }

    func insert(_ key: APIKeyRecord) throws {
        writerCredentials?.credentialsChanged()
        try execute(.insertAPIKey, [key.id, key.userID, key.hash, key.active, key.createdAt.secondsSince1970])
    }

    func deactivateAPIKey(id: String) throws -> Bool {
        writerCredentials?.credentialsChanged()
        try execute(.deactivateAPIKey, [id])
        return db.changesCount > 0
    }

    // MARK: Tracks

    func track(id: String, organizationID: String) throws -> Track? {
        try first(.trackByID, [id, organizationID]) { RowMapping.track($0) }
    }

    func trackExists(id: String, organizationID: String) throws -> Bool {
        try first(.trackExists, [id, organizationID]) { _ in true } ?? false
    }

    func tracks(organizationID: String, limit: Int, offset: Int) throws -> [Track] {
        try all(.tracksPage, [organizationID, limit, offset]) { RowMapping.track($0) }
    }

    func memberTracks(collectionID: String, fromPosition position: Int, limit: Int) throws -> [CollectionTrack] {
        try all(.memberTracksPage, [collectionID, position, limit]) { RowMapping.memberTrack($0) }
    }

    func collectionIDs(containing trackID: String) throws -> [String] {
        try all(.collectionIDsContainingTrack, [trackID]) { $0.string(0) }
    }

    func markTrackDeleted(id: String, at time: Timestamp) throws -> Bool {
        try execute(.markTrackDeleted, [time.secondsSince1970, id])
        return db.changesCount > 0
    }

    func insert(_ track: Track) throws {
        try execute(.insertTrack, [
            track.id, track.organizationID, track.ownerID, track.title, track.engine, track.mode,
            track.measuredDurationSeconds, track.instrumental, track.mimeType, track.licenceClass,
            track.createdAt.secondsSince1970, track.deletedAt?.secondsSince1970, track.licenceVersion,
        ])
    }

    // MARK: Idempotency keys

    func idempotencyRecord(organizationID: String, userID: String, key: String) throws -> IdempotencyRecord? {
        try first(.idempotencyRecord, [organizationID, userID, key]) { RowMapping.idempotencyRecord($0) }
    }

    func keep(_ record: IdempotencyRecord) throws {
        try execute(.dropExpiredIdempotencyRecords, [record.createdAt.secondsSince1970 - IdempotencyRecord.lifetimeSeconds])
        try execute(.keepIdempotencyRecord, [
            record.organizationID, record.userID, record.key, record.requestHash, record.status, record.body,
            record.location, record.etag, record.createdAt.secondsSince1970,
        ])
    }

    // MARK: Share links

    func shareLink(tokenHash: String) throws -> ShareLink? {
        try first(.shareLinkByTokenHash, [tokenHash]) { RowMapping.shareLink($0) }
    }

    func shareLink(id: String, organizationID: String, ownerID: String) throws -> ShareLink? {
        try first(.shareLinkByID, [id, organizationID, ownerID]) { RowMapping.shareLink($0) }
    }

    func insert(_ link: ShareLink) throws {
        try execute(.insertShareLink, [
            link.id, link.tokenHash, link.collectionID, link.organizationID, link.ownerID, link.visibility.rawValue,
            link.expiresAt?.secondsSince1970, link.createdAt.secondsSince1970, link.revokedAt?.secondsSince1970,
            link.target.type, link.trackID,
        ])
    }

    func revokeShareLink(id: String, at time: Timestamp) throws {
        try execute(.revokeShareLink, [time.secondsSince1970, id])
    }

    // MARK: Collections

    func collection(id: String, organizationID: String, ownerID: String) throws -> MusicCollection? {
        try first(.liveCollectionByID, [id, organizationID, ownerID]) { RowMapping.collection($0) }
    }

    func collections(organizationID: String, ownerID: String, limit: Int, offset: Int) throws -> [MusicCollection] {
        try all(.collectionsPage, [organizationID, ownerID, limit, offset]) { RowMapping.collection($0) }
    }

    func anyCollection(id: String) throws -> MusicCollection? {
        try first(.anyCollectionByID, [id]) { RowMapping.collection($0) }
    }

    func insertIfIDFree(_ collection: MusicCollection) throws -> Bool {
        try execute(.insertCollectionIfIDFree, [
            collection.id, collection.organizationID, collection.ownerID, collection.name, collection.description,
            collection.coverTrackID, collection.coverImageURL, collection.trackCount, collection.version,
            collection.createdAt.secondsSince1970, collection.updatedAt.secondsSince1970,
            collection.deletedAt?.secondsSince1970,
        ])
        return db.changesCount == 1
    }

    func update(_ collection: MusicCollection) throws {
        var arguments: [any SQLBindable] = [
            collection.name, collection.description, collection.coverTrackID, collection.coverImageURL,
            collection.trackCount, collection.version, collection.updatedAt.secondsSince1970,
        ]
        if let deletedAt = collection.deletedAt { arguments.append(deletedAt.secondsSince1970) }
        arguments.append(collection.id)
        try execute(collection.deletedAt == nil ? .updateLiveCollection : .updateDeletingCollection, arguments)
    }

    // MARK: Members

    func memberPosition(collectionID: String, trackID: String) throws -> Int? {
        try first(.memberPosition, [collectionID, trackID]) { $0.int(0) }
    }

    func members(collectionID: String, fromPosition position: Int, limit: Int) throws -> MemberPage {
        var page = MemberPage()
        // Room for a usual page; a longer one grows (a limit of 500 reserved for
        // a collection of three would be 24 KB for nothing).
        page.reserveCapacity(min(limit, 64))
        try forEachRow(.members, [collectionID, position, limit]) { RowMapping.appendMember($0, to: &page) }
        return page
    }

    func memberTrackIDs(collectionID: String) throws -> [String] {
        try all(.memberTrackIDs, [collectionID]) { $0.string(0) }
    }

    func appendMember(collectionID: String, trackID: String, position: Int, addedAt: Timestamp) throws {
        try execute(.appendMember, [collectionID, trackID, position, addedAt.secondsSince1970])
    }

    func removeMember(collectionID: String, trackID: String, position: Int) throws {
        try execute(.removeMember, [collectionID, trackID])
        try execute(.closeGapAfterMember, [collectionID, position])
    }

    func reorderMembers(collectionID: String, from oldOrder: [String], to newOrder: [String]) throws {
        for (position, trackID) in newOrder.enumerated() where oldOrder[position] != trackID {
            try execute(.moveMember, [position, collectionID, trackID])
        }
    }
}
