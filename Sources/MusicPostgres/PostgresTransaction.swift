import MusicCore

/// The queries and changes of one PostgreSQL transaction: the same statements
/// as SQLite's, with `$n` parameters, prepared once per connection. In a write,
/// reading a collection locks its row (`FOR UPDATE`) and reading an
/// idempotency key locks the key: see `PostgresStore`.
struct PostgresTransaction: StoreWriter {
    let connection: PostgresConnection
    let writing: Bool

    private func first<T>(_ sql: String, _ parameters: [(any PostgresParameter)?], _ decode: (PostgresRow) throws -> T) throws -> T? {
        try connection.query(sql, parameters, decode).first
    }

    /// ` FOR UPDATE` in a write transaction.
    private var lockInWrite: String { writing ? " FOR UPDATE" : "" }

    // MARK: Identity

    func membership(userID: String, organizationID: String) throws -> Membership? {
        let sql = "SELECT capabilities FROM memberships WHERE user_id = $1 AND organization_id = $2"
        return try first(sql, [userID, organizationID]) { row in
            Self.membership(capabilities: row.string(0), userID: userID, organizationID: organizationID)
        }
    }

    private static func membership(capabilities text: String, userID: String, organizationID: String) -> Membership {
        let capabilities = text.split(separator: ",").map { Capability(rawValue: String($0)) }
        return Membership(organizationID: organizationID, userID: userID, capabilities: Set(capabilities))
    }

    func credentials(hash: String, organizationID: String) throws -> (key: APIKeyRecord, membership: Membership?)? {
        let sql = """
            SELECT k.id, k.user_id, k.key_hash, k.active, k.created_at, m.capabilities
            FROM api_keys k LEFT JOIN memberships m ON m.user_id = k.user_id AND m.organization_id = $2
            WHERE k.key_hash = $1
            """
        return try first(sql, [hash, organizationID]) { row in
            let key = APIKeyRecord(id: row.string(0), userID: row.string(1), hash: row.string(2), active: row.bool(3),
                                   createdAt: row.timestamp(4))
            let membership = row.optionalString(5).map {
                Self.membership(capabilities: $0, userID: key.userID, organizationID: organizationID)
            }
            return (key, membership)
        }
    }

    func organization(id: String) throws -> Organization? {
        try first("SELECT id, name, created_at FROM organizations WHERE id = $1", [id]) { row in
            Organization(id: row.string(0), name: row.string(1), createdAt: row.timestamp(2))
        }
    }

    func user(id: String) throws -> User? {
        try first("SELECT id, email, created_at FROM users WHERE id = $1", [id]) { row in
            User(id: row.string(0), email: row.string(1), createdAt: row.timestamp(2))
        }
    }

    func insert(_ organization: Organization) throws {
        try connection.execute("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)",
                               [organization.id, organization.name, organization.createdAt])
    }

    func insert(_ user: User) throws {
        try connection.execute("INSERT INTO users (id, email, created_at) VALUES ($1, $2, $3)", [user.id, user.email, user.createdAt])
    }

    func upsert(_ membership: Membership) throws {
        let capabilities = membership.capabilities.map(\.rawValue).sorted().joined(separator: ",")
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

    private static let trackColumns = """
        t.id, t.organization_id, t.owner_user_id, t.title, t.engine, t.mode, t.measured_duration_seconds,
        t.instrumental, t.mime_type, t.licence_class, t.created_at, t.deleted_at
        """

    private static func track(from row: PostgresRow, base: Int32 = 0) -> Track {
        Track(
            id: row.string(base), organizationID: row.string(base + 1), ownerID: row.string(base + 2),
            title: row.string(base + 3), engine: row.string(base + 4), mode: row.string(base + 5),
            measuredDurationSeconds: row.optionalDouble(base + 6), instrumental: row.bool(base + 7),
            mimeType: row.string(base + 8), licenceClass: row.string(base + 9),
            createdAt: row.timestamp(base + 10), deletedAt: row.optionalTimestamp(base + 11)
        )
    }

    func track(id: String, organizationID: String) throws -> Track? {
        let sql = "SELECT \(Self.trackColumns) FROM tracks t WHERE t.id = $1 AND t.organization_id = $2 AND t.deleted_at IS NULL"
        return try first(sql, [id, organizationID]) { Self.track(from: $0) }
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
        try connection.query("""
            SELECT \(Self.trackColumns) FROM tracks t
            WHERE t.organization_id = $1 AND t.deleted_at IS NULL
            ORDER BY t.created_at DESC, t.id DESC LIMIT $2 OFFSET $3
            """, [organizationID, limit, offset]) { Self.track(from: $0) }
    }

    func memberTracks(collectionID: String, fromPosition position: Int, limit: Int) throws -> [CollectionTrack] {
        try connection.query("""
            SELECT m.position, \(Self.trackColumns) FROM collection_tracks m JOIN tracks t ON t.id = m.track_id
            WHERE m.collection_id = $1 AND m.position >= $2 AND t.deleted_at IS NULL
            ORDER BY m.position LIMIT $3
            """, [collectionID, position, limit]) { row in
            CollectionTrack(track: Self.track(from: row, base: 1), position: row.int(0))
        }
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
        try connection.execute("""
            INSERT INTO tracks (id, organization_id, owner_user_id, title, engine, mode, measured_duration_seconds,
                                instrumental, mime_type, licence_class, created_at, deleted_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            """, [
                track.id, track.organizationID, track.ownerID, track.title, track.engine, track.mode,
                track.measuredDurationSeconds, track.instrumental, track.mimeType, track.licenceClass,
                track.createdAt, track.deletedAt,
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
        let sql = """
            SELECT organization_id, user_id, key, request_hash, status, response_body, location, etag, created_at
            FROM idempotency_records WHERE organization_id = $1 AND user_id = $2 AND key = $3
            """
        return try first(sql, [organizationID, userID, key]) { row in
            IdempotencyRecord(
                organizationID: row.string(0), userID: row.string(1), key: row.string(2), requestHash: row.string(3),
                status: row.int(4), body: row.bytes(5), location: row.optionalString(6), etag: row.optionalString(7),
                createdAt: row.timestamp(8)
            )
        }
    }

    func keep(_ record: IdempotencyRecord) throws {
        try connection.execute("DELETE FROM idempotency_records WHERE created_at <= $1",
                               [record.createdAt.secondsSince1970 - IdempotencyRecord.lifetimeSeconds])
        // An expired record of the same key was just deleted; any other conflict
        // is a concurrent duplicate, and its unique violation retries this transaction.
        try connection.execute("""
            INSERT INTO idempotency_records
                (organization_id, user_id, key, request_hash, status, response_body, location, etag, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """, [
                record.organizationID, record.userID, record.key, record.requestHash, record.status, PostgresBytes(bytes: record.body),
                record.location, record.etag, record.createdAt,
            ])
    }

    // MARK: Share links

    private static let shareColumns = """
        id, token_hash, collection_id, organization_id, owner_user_id, visibility, expires_at, created_at, revoked_at
        """

    private static func shareLink(from row: PostgresRow) -> ShareLink {
        ShareLink(
            id: row.string(0), tokenHash: row.string(1), collectionID: row.string(2), organizationID: row.string(3),
            ownerID: row.string(4), visibility: ShareLink.Visibility(rawValue: row.string(5)) ?? .linkOnly,
            expiresAt: row.optionalTimestamp(6), createdAt: row.timestamp(7), revokedAt: row.optionalTimestamp(8)
        )
    }

    func shareLink(tokenHash: String) throws -> ShareLink? {
        try first("SELECT \(Self.shareColumns) FROM share_links WHERE token_hash = $1", [tokenHash], Self.shareLink(from:))
    }

    func shareLink(id: String, organizationID: String, ownerID: String) throws -> ShareLink? {
        try first("SELECT \(Self.shareColumns) FROM share_links WHERE id = $1 AND organization_id = $2 AND owner_user_id = $3",
                  [id, organizationID, ownerID], Self.shareLink(from:))
    }

    func insert(_ link: ShareLink) throws {
        try connection.execute("INSERT INTO share_links (\(Self.shareColumns)) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", [
            link.id, link.tokenHash, link.collectionID, link.organizationID, link.ownerID, link.visibility.rawValue,
            link.expiresAt, link.createdAt, link.revokedAt,
        ])
    }

    func revokeShareLink(id: String, at time: Timestamp) throws {
        try connection.execute("UPDATE share_links SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", [time, id])
    }

    // MARK: Collections

    private static let collectionColumns = """
        id, organization_id, owner_user_id, name, description, cover_track_id, cover_image_url,
        track_count, version, created_at, updated_at, deleted_at
        """

    private static func collection(from row: PostgresRow) -> Collection {
        Collection(
            id: row.string(0), organizationID: row.string(1), ownerID: row.string(2), name: row.string(3),
            description: row.optionalString(4), coverTrackID: row.optionalString(5), coverImageURL: row.optionalString(6),
            trackCount: row.int(7), version: row.int(8), createdAt: row.timestamp(9), updatedAt: row.timestamp(10),
            deletedAt: row.optionalTimestamp(11)
        )
    }

    func collection(id: String, organizationID: String, ownerID: String) throws -> Collection? {
        let sql = """
            SELECT \(Self.collectionColumns) FROM collections
            WHERE id = $1 AND organization_id = $2 AND owner_user_id = $3 AND deleted_at IS NULL\(lockInWrite)
            """
        return try first(sql, [id, organizationID, ownerID], Self.collection(from:))
    }

    func collections(organizationID: String, ownerID: String, limit: Int, offset: Int) throws -> [Collection] {
        try connection.query("""
            SELECT \(Self.collectionColumns) FROM collections
            WHERE organization_id = $1 AND owner_user_id = $2 AND deleted_at IS NULL
            ORDER BY created_at DESC, seq DESC LIMIT $3 OFFSET $4
            """, [organizationID, ownerID, limit, offset], Self.collection(from:))
    }

    func anyCollection(id: String) throws -> Collection? {
        try first("SELECT \(Self.collectionColumns) FROM collections WHERE id = $1\(lockInWrite)", [id], Self.collection(from:))
    }

    func insertIfIDFree(_ collection: Collection) throws -> Bool {
        try connection.execute("""
            INSERT INTO collections (\(Self.collectionColumns)) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (id) DO NOTHING
            """, [
                collection.id, collection.organizationID, collection.ownerID, collection.name, collection.description,
                collection.coverTrackID, collection.coverImageURL, collection.trackCount, collection.version,
                collection.createdAt, collection.updatedAt, collection.deletedAt,
            ]) == 1
    }

    func update(_ collection: Collection) throws {
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

    func members(collectionID: String, fromPosition position: Int, limit: Int) throws -> [CollectionMember] {
        try connection.query("""
            SELECT track_id, position, added_at FROM collection_tracks
            WHERE collection_id = $1 AND position >= $2 ORDER BY position LIMIT $3
            """, [collectionID, position, limit]) { row in
            CollectionMember(trackID: row.string(0), position: row.int(1), addedAt: row.timestamp(2))
        }
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
