import GRDB
import MusicCore

/// The queries and changes of one transaction. Statements are prepared once per
/// connection (`StatementCache`), and run through SQLite's API (`first`, `all`
/// and `execute`, in RawStatement.swift). Every SQL text is a literal or a static
/// constant: the cache finds statements by the text's address.
struct SQLiteTransaction: StoreWriter {
    let db: Database
    /// The connection's prepared statements.
    let statements: StatementCache
    /// The writer connection's credentials memo, in a transaction on that connection.
    var writerCredentials: WriterCredentials?

    // MARK: Identity

    func membership(userID: String, organizationID: String) throws -> Membership? {
        let sql = "SELECT capabilities FROM memberships WHERE user_id = ? AND organization_id = ?"
        return try first(sql, [userID, organizationID]) { row in
            Self.membership(capabilities: row.string(0), userID: userID, organizationID: organizationID)
        }
    }

    private static func membership(capabilities text: String, userID: String, organizationID: String) -> Membership {
        // Most memberships hold one capability: no split (a tenth of a write's instructions went there).
        let capabilities: Set<Capability> = text.utf8.contains(UInt8(ascii: ","))
            ? Set(text.split(separator: ",").map { Capability(rawValue: String($0)) })
            : text.isEmpty ? [] : [Capability(rawValue: text)]
        return Membership(organizationID: organizationID, userID: userID, capabilities: capabilities)
    }

    /// Key and membership in one statement (every request authenticates).
    func credentials(hash: String, organizationID: String) throws -> (key: APIKeyRecord, membership: Membership?)? {
        guard let writerCredentials else { return try credentialsFromDatabase(hash: hash, organizationID: organizationID) }
        let memoKey = WriterCredentials.Key(hash: hash, organizationID: organizationID)
        if let kept = writerCredentials.lookup(memoKey) { return kept }
        guard let found = try credentialsFromDatabase(hash: hash, organizationID: organizationID) else { return nil }
        writerCredentials.keep(memoKey, found)
        return found
    }

    private func credentialsFromDatabase(hash: String, organizationID: String) throws -> (key: APIKeyRecord, membership: Membership?)? {
        let sql = """
            SELECT k.id, k.user_id, k.key_hash, k.active, k.created_at, m.capabilities
            FROM api_keys k LEFT JOIN memberships m ON m.user_id = k.user_id AND m.organization_id = ?
            WHERE k.key_hash = ?
            """
        return try first(sql, [organizationID, hash]) { row in
            let key = APIKeyRecord(id: row.string(0), userID: row.string(1), hash: row.string(2), active: row.bool(3),
                                   createdAt: row.timestamp(4))
            let membership = row.optionalString(5).map {
                Self.membership(capabilities: $0, userID: key.userID, organizationID: organizationID)
            }
            return (key, membership)
        }
    }

    func organization(id: String) throws -> Organization? {
        let sql = "SELECT id, name, created_at FROM organizations WHERE id = ?"
        return try first(sql, [id]) { row in
            Organization(id: row.string(0), name: row.string(1), createdAt: row.timestamp(2))
        }
    }

    func user(id: String) throws -> User? {
        let sql = "SELECT id, email, created_at FROM users WHERE id = ?"
        return try first(sql, [id]) { row in
            User(id: row.string(0), email: row.string(1), createdAt: row.timestamp(2))
        }
    }

    func insert(_ organization: Organization) throws {
        writerCredentials?.credentialsChanged()
        try execute("INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)", [organization.id, organization.name, organization.createdAt.secondsSince1970])
    }

    func insert(_ user: User) throws {
        writerCredentials?.credentialsChanged()
        try execute("INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)", [user.id, user.email, user.createdAt.secondsSince1970])
    }

    func upsert(_ membership: Membership) throws {
        writerCredentials?.credentialsChanged()
        let capabilities = membership.capabilities.map(\.rawValue).sorted().joined(separator: ",")
        try execute("""
            INSERT INTO memberships (organization_id, user_id, capabilities) VALUES (?, ?, ?)
            ON CONFLICT (user_id, organization_id) DO UPDATE SET capabilities = excluded.capabilities
            """, [membership.organizationID, membership.userID, capabilities])
    }

    func removeMembership(userID: String, organizationID: String) throws -> Bool {
        writerCredentials?.credentialsChanged()
        try execute("DELETE FROM memberships WHERE user_id = ? AND organization_id = ?", [userID, organizationID])
        return db.changesCount > 0
    }

    func insert(_ key: APIKeyRecord) throws {
        writerCredentials?.credentialsChanged()
        try execute("INSERT INTO api_keys (id, user_id, key_hash, active, created_at) VALUES (?, ?, ?, ?, ?)", [key.id, key.userID, key.hash, key.active, key.createdAt.secondsSince1970])
    }

    func deactivateAPIKey(id: String) throws -> Bool {
        writerCredentials?.credentialsChanged()
        try execute("UPDATE api_keys SET active = 0 WHERE id = ?", [id])
        return db.changesCount > 0
    }

    // MARK: Tracks

    private static let trackColumns = """
        t.id, t.organization_id, t.owner_user_id, t.title, t.engine, t.mode, t.measured_duration_seconds,
        t.instrumental, t.mime_type, t.licence_class, t.created_at, t.deleted_at
        """

    /// A track from the columns of `trackColumns`, starting at `base`.
    private static func track(from row: RawRow, base: Int32 = 0) -> Track {
        Track(
            id: row.string(base), organizationID: row.string(base + 1), ownerID: row.string(base + 2), title: row.string(base + 3),
            engine: row.string(base + 4), mode: row.string(base + 5), measuredDurationSeconds: row.optionalDouble(base + 6),
            instrumental: row.bool(base + 7), mimeType: row.string(base + 8), licenceClass: row.string(base + 9),
            createdAt: row.timestamp(base + 10), deletedAt: row.optionalTimestamp(base + 11)
        )
    }

    private static let trackByID = "SELECT \(trackColumns) FROM tracks t WHERE t.id = ? AND t.organization_id = ? AND t.deleted_at IS NULL"

    func track(id: String, organizationID: String) throws -> Track? {
        try first(Self.trackByID, [id, organizationID]) { Self.track(from: $0) }
    }

    func trackExists(id: String, organizationID: String) throws -> Bool {
        let sql = "SELECT 1 FROM tracks t WHERE t.id = ? AND t.organization_id = ? AND t.deleted_at IS NULL"
        return try first(sql, [id, organizationID]) { _ in true } ?? false
    }

    private static let tracksPage = """
        SELECT \(trackColumns) FROM tracks t
        WHERE t.organization_id = ? AND t.deleted_at IS NULL
        ORDER BY t.created_at DESC, t.id DESC LIMIT ? OFFSET ?
        """

    func tracks(organizationID: String, limit: Int, offset: Int) throws -> [Track] {
        try all(Self.tracksPage, [organizationID, limit, offset]) { Self.track(from: $0) }
    }

    private static let memberTracksPage = """
        SELECT m.position, \(trackColumns) FROM collection_tracks m JOIN tracks t ON t.id = m.track_id
        WHERE m.collection_id = ? AND m.position >= ? AND t.deleted_at IS NULL
        ORDER BY m.position LIMIT ?
        """

    func memberTracks(collectionID: String, fromPosition position: Int, limit: Int) throws -> [CollectionTrack] {
        try all(Self.memberTracksPage, [collectionID, position, limit]) { row in
            CollectionTrack(track: Self.track(from: row, base: 1), position: row.int(0))
        }
    }

    func collectionIDs(containing trackID: String) throws -> [String] {
        // The index on track_id holds the key's collection_id (a WITHOUT ROWID
        // table): this order costs no sort.
        try all("SELECT collection_id FROM collection_tracks WHERE track_id = ? ORDER BY collection_id", [trackID]) { $0.string(0) }
    }

    func markTrackDeleted(id: String, at time: Timestamp) throws -> Bool {
        try execute("UPDATE tracks SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", [time.secondsSince1970, id])
        return db.changesCount > 0
    }

    // MARK: Idempotency keys

    func idempotencyRecord(organizationID: String, userID: String, key: String) throws -> IdempotencyRecord? {
        let sql = """
            SELECT organization_id, user_id, key, request_hash, status, response_body, location, etag, created_at
            FROM idempotency_records WHERE organization_id = ? AND user_id = ? AND key = ?
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
        try execute("DELETE FROM idempotency_records WHERE created_at <= ?",
                    [record.createdAt.secondsSince1970 - IdempotencyRecord.lifetimeSeconds])
        try execute("""
            INSERT OR REPLACE INTO idempotency_records
                (organization_id, user_id, key, request_hash, status, response_body, location, etag, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [
                record.organizationID, record.userID, record.key, record.requestHash, record.status, record.body,
                record.location, record.etag, record.createdAt.secondsSince1970,
            ])
    }

    // MARK: Share links

    private static let shareColumns = """
        id, token_hash, collection_id, organization_id, owner_user_id, visibility, expires_at, created_at, revoked_at
        """

    private static func shareLink(from row: RawRow) -> ShareLink {
        ShareLink(
            id: row.string(0), tokenHash: row.string(1), collectionID: row.string(2), organizationID: row.string(3),
            ownerID: row.string(4), visibility: ShareLink.Visibility(rawValue: row.string(5)) ?? .linkOnly,
            expiresAt: row.optionalTimestamp(6), createdAt: row.timestamp(7), revokedAt: row.optionalTimestamp(8)
        )
    }

    private static let shareLinkByTokenHash = "SELECT \(shareColumns) FROM share_links WHERE token_hash = ?"
    private static let shareLinkByID = "SELECT \(shareColumns) FROM share_links WHERE id = ? AND organization_id = ? AND owner_user_id = ?"
    private static let insertShareLink = "INSERT INTO share_links (\(shareColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"

    func shareLink(tokenHash: String) throws -> ShareLink? {
        try first(Self.shareLinkByTokenHash, [tokenHash], Self.shareLink(from:))
    }

    func shareLink(id: String, organizationID: String, ownerID: String) throws -> ShareLink? {
        try first(Self.shareLinkByID, [id, organizationID, ownerID], Self.shareLink(from:))
    }

    func insert(_ link: ShareLink) throws {
        try execute(Self.insertShareLink, [
                link.id, link.tokenHash, link.collectionID, link.organizationID, link.ownerID, link.visibility.rawValue,
                link.expiresAt?.secondsSince1970, link.createdAt.secondsSince1970, link.revokedAt?.secondsSince1970,
            ])
    }

    func revokeShareLink(id: String, at time: Timestamp) throws {
        try execute("UPDATE share_links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [time.secondsSince1970, id])
    }

    func insert(_ track: Track) throws {
        try execute("""
            INSERT INTO tracks (id, organization_id, owner_user_id, title, engine, mode, measured_duration_seconds,
                                instrumental, mime_type, licence_class, created_at, deleted_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [
                track.id, track.organizationID, track.ownerID, track.title, track.engine, track.mode,
                track.measuredDurationSeconds, track.instrumental, track.mimeType, track.licenceClass,
                track.createdAt.secondsSince1970, track.deletedAt?.secondsSince1970,
            ])
    }

    // MARK: Collections

    private static let collectionColumns = """
        id, organization_id, owner_user_id, name, description, cover_track_id, cover_image_url,
        track_count, version, created_at, updated_at, deleted_at
        """

    private static func collection(from row: RawRow) -> Collection {
        Collection(
            id: row.string(0), organizationID: row.string(1), ownerID: row.string(2), name: row.string(3),
            description: row.optionalString(4), coverTrackID: row.optionalString(5), coverImageURL: row.optionalString(6),
            trackCount: row.int(7), version: row.int(8), createdAt: row.timestamp(9), updatedAt: row.timestamp(10),
            deletedAt: row.optionalTimestamp(11)
        )
    }

    private static let liveCollectionByID = """
        SELECT \(collectionColumns) FROM collections
        WHERE id = ? AND organization_id = ? AND owner_user_id = ? AND deleted_at IS NULL
        """
    private static let collectionsPage = """
        SELECT \(collectionColumns) FROM collections
        WHERE organization_id = ? AND owner_user_id = ? AND deleted_at IS NULL
        ORDER BY created_at DESC, seq DESC LIMIT ? OFFSET ?
        """
    private static let anyCollectionByID = "SELECT \(collectionColumns) FROM collections WHERE id = ?"
    private static let insertCollectionIfIDFree = """
        INSERT INTO collections (\(collectionColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO NOTHING
        """

    func collection(id: String, organizationID: String, ownerID: String) throws -> Collection? {
        try first(Self.liveCollectionByID, [id, organizationID, ownerID], Self.collection(from:))
    }

    func collections(organizationID: String, ownerID: String, limit: Int, offset: Int) throws -> [Collection] {
        try all(Self.collectionsPage, [organizationID, ownerID, limit, offset], Self.collection(from:))
    }

    func anyCollection(id: String) throws -> Collection? {
        try first(Self.anyCollectionByID, [id], Self.collection(from:))
    }

    func insertIfIDFree(_ collection: Collection) throws -> Bool {
        try execute(Self.insertCollectionIfIDFree, arguments(of: collection))
        return db.changesCount == 1
    }

    func update(_ collection: Collection) throws {
        var arguments: [any SQLBindable] = [
            collection.name, collection.description, collection.coverTrackID, collection.coverImageURL,
            collection.trackCount, collection.version, collection.updatedAt.secondsSince1970,
        ]
        // A live collection's deleted_at stays out of the SET list: SQLite maintains
        // every index that names an assigned column, and the owner index's WHERE names it.
        if let deletedAt = collection.deletedAt { arguments.append(deletedAt.secondsSince1970) }
        arguments.append(collection.id)
        try execute(collection.deletedAt == nil ? Self.updateLive : Self.updateDeleting, arguments)
    }

    private static let updateSet = """
        UPDATE collections SET name = ?, description = ?, cover_track_id = ?, cover_image_url = ?,
            track_count = ?, version = ?, updated_at = ?
        """
    private static let updateLive = updateSet + " WHERE id = ?"
    /// A deletion is final: an earlier deletion time stays.
    private static let updateDeleting = updateSet + ", deleted_at = COALESCE(deleted_at, ?) WHERE id = ?"

    private func arguments(of collection: Collection) -> [any SQLBindable] {
        [
            collection.id, collection.organizationID, collection.ownerID, collection.name, collection.description,
            collection.coverTrackID, collection.coverImageURL, collection.trackCount, collection.version,
            collection.createdAt.secondsSince1970, collection.updatedAt.secondsSince1970,
            collection.deletedAt?.secondsSince1970,
        ]
    }

    // MARK: Members

    func memberPosition(collectionID: String, trackID: String) throws -> Int? {
        let sql = "SELECT position FROM collection_tracks WHERE collection_id = ? AND track_id = ?"
        return try first(sql, [collectionID, trackID]) { $0.int(0) }
    }

    func members(collectionID: String, fromPosition position: Int, limit: Int) throws -> [CollectionMember] {
        let sql = """
            SELECT track_id, position, added_at FROM collection_tracks
            WHERE collection_id = ? AND position >= ? ORDER BY position LIMIT ?
            """
        return try all(sql, [collectionID, position, limit]) { row in
            CollectionMember(trackID: row.string(0), position: row.int(1), addedAt: row.timestamp(2))
        }
    }

    func memberTrackIDs(collectionID: String) throws -> [String] {
        let sql = "SELECT track_id FROM collection_tracks WHERE collection_id = ? ORDER BY position"
        return try all(sql, [collectionID]) { $0.string(0) }
    }

    func appendMember(collectionID: String, trackID: String, position: Int, addedAt: Timestamp) throws {
        try execute("INSERT INTO collection_tracks (collection_id, track_id, position, added_at) VALUES (?, ?, ?, ?)", [collectionID, trackID, position, addedAt.secondsSince1970])
    }

    func removeMember(collectionID: String, trackID: String, position: Int) throws {
        try execute("DELETE FROM collection_tracks WHERE collection_id = ? AND track_id = ?", [collectionID, trackID])
        try execute("UPDATE collection_tracks SET position = position - 1 WHERE collection_id = ? AND position > ?", [collectionID, position])
    }

    func reorderMembers(collectionID: String, from oldOrder: [String], to newOrder: [String]) throws {
        for (position, trackID) in newOrder.enumerated() where oldOrder[position] != trackID {
            try execute("UPDATE collection_tracks SET position = ? WHERE collection_id = ? AND track_id = ?", [position, collectionID, trackID])
        }
    }
}
