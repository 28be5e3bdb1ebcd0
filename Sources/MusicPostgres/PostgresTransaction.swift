import MusicCore

/// The queries and changes of one PostgreSQL transaction: the same statements
/// as SQLite's, with `$n` parameters, prepared once per connection; rows become
/// models through `RowMapping`. In a write,
/// reading a collection locks its row (`FOR UPDATE`) and reading an
/// idempotency key locks the key: see `PostgresStore`.
struct PostgresTransaction: StoreWriter {
    let connection: PostgresConnection
    let writing: Bool

    private func first<T>(_ sql: String, _ parameters: [(any PostgresParameter)?], _ decode: (PostgresRow) throws -> T) throws -> T? {
        try connection.query(sql, parameters, decode).first
    }

    /// `($1, $2, ...)`, one parameter per column of the list.
    private static func values(_ columns: String) -> String {
        "(" + (1...RowMapping.count(of: columns)).map { "$\($0)" }.joined(separator: ", ") + ")"
    }

    /// ` FOR UPDATE` in a write transaction.
    private var lockInWrite: String { writing ? " FOR UPDATE" : "" }

    // MARK: Identity

    func membership(userID: String, organizationID: String) throws -> Membership? {
        let sql = "SELECT capabilities FROM memberships WHERE user_id = $1 AND organization_id = $2"
        return try first(sql, [userID, organizationID]) { row in
            RowMapping.membership(capabilities: row.string(0), userID: userID, organizationID: organizationID)
        }
    }

    private static let credentials = """
        SELECT \(RowMapping.apiKeyColumns), m.capabilities
        FROM api_keys k LEFT JOIN memberships m ON m.user_id = k.user_id AND m.organization_id = $2
        WHERE k.key_hash = $1
        """

    func credentials(hash: String, organizationID: String) throws -> (key: APIKeyRecord, membership: Membership?)? {
        return try first(Self.credentials, [hash, organizationID]) { row in
            let key = RowMapping.apiKey(row)
            let membership = row.optionalString(5).map {
                RowMapping.membership(capabilities: $0, userID: key.userID, organizationID: organizationID)
            }
            return (key, membership)
        }
    }

    private static let organizationByID = "SELECT \(RowMapping.organizationColumns) FROM organizations WHERE id = $1"
    private static let userByID = "SELECT \(RowMapping.userColumns) FROM users WHERE id = $1"
    private static let insertOrganization =
        "INSERT INTO organizations (\(RowMapping.organizationColumns)) VALUES \(values(RowMapping.organizationColumns))"
    private static let insertUser = "INSERT INTO users (\(RowMapping.userColumns)) VALUES \(values(RowMapping.userColumns))"

    func organization(id: String) throws -> Organization? {
        try first(Self.organizationByID, [id]) { RowMapping.organization($0) }
    }

    func user(id: String) throws -> User? {
        try first(Self.userByID, [id]) { RowMapping.user($0) }
    }

    func insert(_ organization: Organization) throws {
        try connection.execute(Self.insertOrganization, [organization.id, organization.name, organization.createdAt])
    }

    func insert(_ user: User) throws {
        try connection.execute(Self.insertUser, [user.id, user.email, user.createdAt])
    }

    func upsert(_ membership: Membership) throws {
        let capabilities = RowMapping.capabilitiesText(membership.capabilities)
        try connection.execute("""
            INSERT INTO memberships (organization_id, user_id, capabilities) VALUES ($1, $2, $3)
            ON CONFLICT (user_id, organization_id) DO UPDATE SET capabilities = excluded.capabilities
            """, [membership.organizationID, membership.userID, capabilities])
    }

    func removeMembership(userID: String, organizationID: String) throws -> Bool {
        try connection.execute("DELETE FROM memberships WHERE user_id = $1 AND organization_id = $2", [userID, organizationID]) > 0
    }

    func insert(_ key: APIKeyRecord) throws {
        try connection.execute("INSERT INTO api_keys (id, user_id, key_hash, active, created_at) VALUES ($1, $2, $3, $4, $5)",
                               [key.id, key.userID, key.hash, key.active, key.createdAt])
    }

    func deactivateAPIKey(id: String) throws -> Bool {
        try connection.execute("UPDATE api_keys SET active = false WHERE id = $1", [id]) > 0
    }

    // MARK: Tracks

    private static let trackByID =
        "SELECT \(RowMapping.trackColumns) FROM tracks t WHERE t.id = $1 AND t.organization_id = $2 AND t.deleted_at IS NULL"
    private static let tracksPage = """
        SELECT \(RowMapping.trackColumns) FROM tracks t
        WHERE t.organization_id = $1 AND t.deleted_at IS NULL
        ORDER BY t.created_at DESC, t.id DESC LIMIT $2 OFFSET $3
        """
    private static let memberTracksPage = """
        SELECT \(RowMapping.memberTrackColumns) FROM collection_tracks m JOIN tracks t ON t.id = m.track_id
        WHERE m.collection_id = $1 AND m.position >= $2 AND t.deleted_at IS NULL
        ORDER BY m.position LIMIT $3
        """
    private static let insertTrack =
        "INSERT INTO tracks (\(RowMapping.trackInsertColumns)) VALUES \(values(RowMapping.trackInsertColumns))"

    func track(id: String, organizationID: String) throws -> Track? {
        try first(Self.trackByID, [id, organizationID]) { RowMapping.track($0) }
    }

    /// In a write (adding the track to a collection), the track's row is locked
    /// `FOR SHARE` to the end of the transaction: a concurrent `track delete`
    /// (an UPDATE of the row) waits for the add to commit and then finds the new
    /// member among the collections it empties; a delete that came first makes
    /// this check wait and see the track deleted.
    func trackExists(id: String, organizationID: String) throws -> Bool {
        let sql = writing
            ? "SELECT 1 FROM tracks t WHERE t.id = $1 AND t.organization_id = $2 AND t.deleted_at IS NULL FOR SHARE"
            : "SELECT 1 FROM tracks t WHERE t.id = $1 AND t.organization_id = $2 AND t.deleted_at IS NULL"
        return try first(sql, [id, organizationID]) { _ in true } ?? false
    }

    func tracks(organizationID: String, limit: Int, offset: Int) throws -> [Track] {
        try connection.query(Self.tracksPage, [organizationID, limit, offset]) { RowMapping.track($0) }
    }

    func memberTracks(collectionID: String, fromPosition position: Int, limit: Int) throws -> [CollectionTrack] {
        try connection.query(Self.memberTracksPage, [collectionID, position, limit]) { RowMapping.memberTrack($0) }
    }

    func collectionIDs(containing trackID: String) throws -> [String] {
        try connection.query("SELECT collection_id FROM collection_tracks WHERE track_id = $1 ORDER BY collection_id", [trackID]) { $0.string(0) }
    }

    /// The UPDATE locks the track's row before `collectionIDs(containing:)` runs
    /// (a statement of its own, so it sees every add that committed meanwhile).
    func markTrackDeleted(id: String, at time: Timestamp) throws -> Bool {
        try connection.execute("UPDATE tracks SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL", [time, id]) > 0
    }

    func insert(_ track: Track) throws {
        try connection.execute(Self.insertTrack, [
                track.id, track.organizationID, track.ownerID, track.title, track.engine, track.mode,
                track.measuredDurationSeconds, track.instrumental, track.mimeType, track.licenceClass,
                track.createdAt, track.deletedAt, track.licenceVersion,
            ])
    }

    // MARK: Idempotency keys

    func idempotencyRecord(organizationID: String, userID: String, key: String) throws -> IdempotencyRecord? {
        if writing {
            // Held to the end of the transaction: a concurrent request with the same
            // key waits here, then reads the answer this one keeps.
            try connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1 || ' ' || $2 || ' ' || $3, 0))",
                                   [organizationID, userID, key])
        }
        return try first(Self.idempotencyRecord, [organizationID, userID, key]) { RowMapping.idempotencyRecord($0) }
    }

    private static let idempotencyRecord = """
        SELECT \(RowMapping.idempotencyColumns)
        FROM idempotency_records WHERE organization_id = $1 AND user_id = $2 AND key = $3
        """
    private static let keepIdempotencyRecord = """
        INSERT INTO idempotency_records (\(RowMapping.idempotencyColumns)) VALUES \(values(RowMapping.idempotencyColumns))
        """

    func keep(_ record: IdempotencyRecord) throws {
        try connection.execute("DELETE FROM idempotency_records WHERE created_at <= $1",
                               [record.createdAt.secondsSince1970 - IdempotencyRecord.lifetimeSeconds])
        // An expired record of the same key was just deleted; any other conflict
        // is a concurrent duplicate, and its unique violation retries this transaction.
        try connection.execute(Self.keepIdempotencyRecord, [
                record.organizationID, record.userID, record.key, record.requestHash, record.status, PostgresBytes(bytes: record.body),
                record.location, record.etag, record.createdAt,
            ])
    }

    // MARK: Share links

    private static let shareLinkByTokenHash = "SELECT \(RowMapping.shareLinkColumns) FROM share_links WHERE token_hash = $1"
    private static let shareLinkByID =
        "SELECT \(RowMapping.shareLinkColumns) FROM share_links WHERE id = $1 AND organization_id = $2 AND owner_user_id = $3"
    private static let insertShareLink =
        "INSERT INTO share_links (\(RowMapping.shareLinkColumns)) VALUES \(values(RowMapping.shareLinkColumns))"

    func shareLink(tokenHash: String) throws -> ShareLink? {
        try first(Self.shareLinkByTokenHash, [tokenHash]) { RowMapping.shareLink($0) }
    }

    func shareLink(id: String, organizationID: String, ownerID: String) throws -> ShareLink? {
        try first(Self.shareLinkByID, [id, organizationID, ownerID]) { RowMapping.shareLink($0) }
    }

    func insert(_ link: ShareLink) throws {
        try connection.execute(Self.insertShareLink, [
            link.id, link.tokenHash, link.collectionID, link.organizationID, link.ownerID, link.visibility.rawValue,
            link.expiresAt, link.createdAt, link.revokedAt, link.target.type, link.trackID,
        ])
    }

    func revokeShareLink(id: String, at time: Timestamp) throws {
        try connection.execute("UPDATE share_links SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", [time, id])
    }

    // MARK: Collections

    private static let liveCollectionByID = """
        SELECT \(RowMapping.collectionColumns) FROM collections
        WHERE id = $1 AND organization_id = $2 AND owner_user_id = $3 AND deleted_at IS NULL
        """
    private static let collectionsPage = """
        SELECT \(RowMapping.collectionColumns) FROM collections
        WHERE organization_id = $1 AND owner_user_id = $2 AND deleted_at IS NULL
        ORDER BY created_at DESC, seq DESC LIMIT $3 OFFSET $4
        """
    private static let anyCollectionByID = "SELECT \(RowMapping.collectionColumns) FROM collections WHERE id = $1"
    private static let insertCollectionIfIDFree = """
        INSERT INTO collections (\(RowMapping.collectionColumns)) VALUES \(values(RowMapping.collectionColumns))
        ON CONFLICT (id) DO NOTHING
        """

    func collection(id: String, organizationID: String, ownerID: String) throws -> MusicCollection? {
        try first(Self.liveCollectionByID + lockInWrite, [id, organizationID, ownerID]) { RowMapping.collection($0) }
    }

    func collections(organizationID: String, ownerID: String, limit: Int, offset: Int) throws -> [MusicCollection] {
        try connection.query(Self.collectionsPage, [organizationID, ownerID, limit, offset]) { RowMapping.collection($0) }
    }

    func anyCollection(id: String) throws -> MusicCollection? {
        try first(Self.anyCollectionByID + lockInWrite, [id]) { RowMapping.collection($0) }
    }

    func insertIfIDFree(_ collection: MusicCollection) throws -> Bool {
        try connection.execute(Self.insertCollectionIfIDFree, [
                collection.id, collection.organizationID, collection.ownerID, collection.name, collection.description,
                collection.coverTrackID, collection.coverImageURL, collection.trackCount, collection.version,
                collection.createdAt, collection.updatedAt, collection.deletedAt,
            ]) == 1
    }

    func update(_ collection: MusicCollection) throws {
        try connection.execute("""
            UPDATE collections SET name = $1, description = $2, cover_track_id = $3, cover_image_url = $4,
                track_count = $5, version = $6, updated_at = $7, deleted_at = COALESCE(deleted_at, $8)
            WHERE id = $9
            """, [
                collection.name, collection.description, collection.coverTrackID, collection.coverImageURL,
                collection.trackCount, collection.version, collection.updatedAt, collection.deletedAt, collection.id,
            ])
    }

    // MARK: Members

    func memberPosition(collectionID: String, trackID: String) throws -> Int? {
        try first("SELECT position FROM collection_tracks WHERE collection_id = $1 AND track_id = $2", [collectionID, trackID]) { $0.int(0) }
    }

    private static let members = """
        SELECT \(RowMapping.memberColumns) FROM collection_tracks
        WHERE collection_id = $1 AND position >= $2 ORDER BY position LIMIT $3
        """

    func members(collectionID: String, fromPosition position: Int, limit: Int) throws -> MemberPage {
        var page = MemberPage()
        try connection.forEachRow(Self.members, [collectionID, position, limit], reserve: { page.reserveCapacity($0) }) {
            RowMapping.appendMember($0, to: &page)
        }
        return page
    }

    func memberTrackIDs(collectionID: String) throws -> [String] {
        try connection.query("SELECT track_id FROM collection_tracks WHERE collection_id = $1 ORDER BY position", [collectionID]) { $0.string(0) }
    }

    func appendMember(collectionID: String, trackID: String, position: Int, addedAt: Timestamp) throws {
        try connection.execute("INSERT INTO collection_tracks (collection_id, track_id, position, added_at) VALUES ($1, $2, $3, $4)",
                               [collectionID, trackID, position, addedAt])
    }

    func removeMember(collectionID: String, trackID: String, position: Int) throws {
        try connection.execute("DELETE FROM collection_tracks WHERE collection_id = $1 AND track_id = $2", [collectionID, trackID])
        try connection.execute("UPDATE collection_tracks SET position = position - 1 WHERE collection_id = $1 AND position > $2",
                               [collectionID, position])
    }

    /// One statement for the whole new order (only moved members are sent):
    /// 10,000 single-row updates would be 10,000 round trips.
    func reorderMembers(collectionID: String, from oldOrder: [String], to newOrder: [String]) throws {
        var moved: [String] = []
        var positions: [String] = []
        for (position, trackID) in newOrder.enumerated() where oldOrder[position] != trackID {
            moved.append(trackID)
            positions.append(String(position))
        }
        guard !moved.isEmpty else { return }
        try connection.execute("""
            UPDATE collection_tracks m SET position = v.position
            FROM unnest($2::text[], $3::integer[]) AS v(track_id, position)
            WHERE m.collection_id = $1 AND m.track_id = v.track_id
            """, [collectionID, PostgresTextArray(elements: moved), PostgresTextArray(elements: positions)])
    }
}
