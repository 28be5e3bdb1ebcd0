import Foundation
import GRDB
import MusicCore

/// The queries and changes of one transaction. Statements are prepared once per
/// connection and cached (`cachedStatement`).
struct SQLiteTransaction: StoreWriter {
    let db: Database

    /// The first row of a cached statement, decoded in place (no row copy).
    private func first<T>(_ sql: String, _ arguments: StatementArguments, _ decode: (Row) throws -> T) throws -> T? {
        let cursor = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments)
        return try cursor.next().map(decode)
    }

    /// Every row of a cached statement, decoded in place (no row copies).
    private func all<T>(_ sql: String, _ arguments: StatementArguments, _ decode: (Row) throws -> T) throws -> [T] {
        let cursor = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments)
        var values: [T] = []
        while let row = try cursor.next() { values.append(try decode(row)) }
        return values
    }

    // MARK: Identity

    func membership(userID: String, organizationID: String) throws -> Membership? {
        let sql = "SELECT capabilities FROM memberships WHERE user_id = ? AND organization_id = ?"
        return try String.fetchOne(db.cachedStatement(sql: sql), arguments: [userID, organizationID]).map { text in
            Self.membership(capabilities: text, userID: userID, organizationID: organizationID)
        }
    }

    private static func membership(capabilities text: String, userID: String, organizationID: String) -> Membership {
        let capabilities = text.split(separator: ",").map { Capability(rawValue: String($0)) }
        return Membership(organizationID: organizationID, userID: userID, capabilities: Set(capabilities))
    }

    /// Key and membership in one statement (every request authenticates).
    func credentials(hash: String, organizationID: String) throws -> (key: APIKeyRecord, membership: Membership?)? {
        let sql = """
            SELECT k.id, k.user_id, k.key_hash, k.active, k.created_at, m.capabilities
            FROM api_keys k LEFT JOIN memberships m ON m.user_id = k.user_id AND m.organization_id = ?
            WHERE k.key_hash = ?
            """
        return try first(sql, [organizationID, hash]) { row in
            let key = APIKeyRecord(id: row[0], userID: row[1], hash: row[2], active: row[3], createdAt: Timestamp(secondsSince1970: row[4]))
            let membership = (row[5] as String?).map {
                Self.membership(capabilities: $0, userID: key.userID, organizationID: organizationID)
            }
            return (key, membership)
        }
    }

    func organization(id: String) throws -> Organization? {
        let sql = "SELECT id, name, created_at FROM organizations WHERE id = ?"
        return try first(sql, [id]) { row in
            Organization(id: row[0], name: row[1], createdAt: Timestamp(secondsSince1970: row[2]))
        }
    }

    func user(id: String) throws -> User? {
        let sql = "SELECT id, email, created_at FROM users WHERE id = ?"
        return try first(sql, [id]) { row in
            User(id: row[0], email: row[1], createdAt: Timestamp(secondsSince1970: row[2]))
        }
    }

    func insert(_ organization: Organization) throws {
        try db.cachedStatement(sql: "INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)")
            .execute(arguments: [organization.id, organization.name, organization.createdAt.secondsSince1970])
    }

    func insert(_ user: User) throws {
        try db.cachedStatement(sql: "INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)")
            .execute(arguments: [user.id, user.email, user.createdAt.secondsSince1970])
    }

    func upsert(_ membership: Membership) throws {
        let capabilities = membership.capabilities.map(\.rawValue).sorted().joined(separator: ",")
        try db.cachedStatement(sql: """
            INSERT INTO memberships (organization_id, user_id, capabilities) VALUES (?, ?, ?)
            ON CONFLICT (user_id, organization_id) DO UPDATE SET capabilities = excluded.capabilities
            """).execute(arguments: [membership.organizationID, membership.userID, capabilities])
    }

    func insert(_ key: APIKeyRecord) throws {
        try db.cachedStatement(sql: "INSERT INTO api_keys (id, user_id, key_hash, active, created_at) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [key.id, key.userID, key.hash, key.active, key.createdAt.secondsSince1970])
    }

    func deactivateAPIKey(id: String) throws -> Bool {
        try db.cachedStatement(sql: "UPDATE api_keys SET active = 0 WHERE id = ?").execute(arguments: [id])
        return db.changesCount > 0
    }

    // MARK: Tracks

    private static let trackColumns = """
        t.id, t.organization_id, t.owner_user_id, t.title, t.engine, t.mode, t.measured_duration_seconds,
        t.instrumental, t.mime_type, t.licence_class, t.created_at, t.deleted_at
        """

    /// A track from the columns of `trackColumns`, starting at `base`.
    private static func track(from row: Row, base: Int = 0) -> Track {
        Track(
            id: row[base], organizationID: row[base + 1], ownerID: row[base + 2], title: row[base + 3],
            engine: row[base + 4], mode: row[base + 5], measuredDurationSeconds: row[base + 6],
            instrumental: row[base + 7], mimeType: row[base + 8], licenceClass: row[base + 9],
            createdAt: Timestamp(secondsSince1970: row[base + 10]),
            deletedAt: (row[base + 11] as Int64?).map(Timestamp.init(secondsSince1970:))
        )
    }

    func track(id: String, organizationID: String) throws -> Track? {
        let sql = "SELECT \(Self.trackColumns) FROM tracks t WHERE t.id = ? AND t.organization_id = ? AND t.deleted_at IS NULL"
        return try first(sql, [id, organizationID]) { Self.track(from: $0) }
    }

    func tracks(organizationID: String, limit: Int, offset: Int) throws -> [Track] {
        let sql = """
            SELECT \(Self.trackColumns) FROM tracks t
            WHERE t.organization_id = ? AND t.deleted_at IS NULL
            ORDER BY t.created_at DESC, t.id DESC LIMIT ? OFFSET ?
            """
        return try all(sql, [organizationID, limit, offset]) { Self.track(from: $0) }
    }

    func memberTracks(collectionID: String, fromPosition position: Int, limit: Int) throws -> [CollectionTrack] {
        let sql = """
            SELECT m.position, \(Self.trackColumns) FROM collection_tracks m JOIN tracks t ON t.id = m.track_id
            WHERE m.collection_id = ? AND m.position >= ? AND t.deleted_at IS NULL
            ORDER BY m.position LIMIT ?
            """
        return try all(sql, [collectionID, position, limit]) { row in
            CollectionTrack(track: Self.track(from: row, base: 1), position: row[0])
        }
    }

    func collectionIDs(containing trackID: String) throws -> [String] {
        try String.fetchAll(db.cachedStatement(sql: "SELECT collection_id FROM collection_tracks WHERE track_id = ?"), arguments: [trackID])
    }

    func markTrackDeleted(id: String, at time: Timestamp) throws -> Bool {
        try db.cachedStatement(sql: "UPDATE tracks SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL")
            .execute(arguments: [time.secondsSince1970, id])
        return db.changesCount > 0
    }

    // MARK: Idempotency keys

    func idempotencyRecord(userID: String, key: String) throws -> IdempotencyRecord? {
        let sql = """
            SELECT user_id, key, request_hash, status, response_body, location, etag, created_at
            FROM idempotency_keys WHERE user_id = ? AND key = ?
            """
        return try first(sql, [userID, key]) { row in
            IdempotencyRecord(
                userID: row[0], key: row[1], requestHash: row[2], status: row[3], body: [UInt8](row[4] as Data),
                location: row[5], etag: row[6], createdAt: Timestamp(secondsSince1970: row[7])
            )
        }
    }

    func keep(_ record: IdempotencyRecord) throws {
        try db.cachedStatement(sql: "DELETE FROM idempotency_keys WHERE created_at <= ?")
            .execute(arguments: [record.createdAt.secondsSince1970 - IdempotencyRecord.lifetimeSeconds])
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO idempotency_keys
                (user_id, key, request_hash, status, response_body, location, etag, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                record.userID, record.key, record.requestHash, record.status, Data(record.body),
                record.location, record.etag, record.createdAt.secondsSince1970,
            ])
    }

    // MARK: Share links

    private static let shareColumns = """
        id, token_hash, collection_id, organization_id, owner_user_id, visibility, expires_at, created_at, revoked_at
        """

    private static func shareLink(from row: Row) -> ShareLink {
        ShareLink(
            id: row[0], tokenHash: row[1], collectionID: row[2], organizationID: row[3], ownerID: row[4],
            visibility: ShareLink.Visibility(rawValue: row[5]) ?? .linkOnly,
            expiresAt: (row[6] as Int64?).map(Timestamp.init(secondsSince1970:)),
            createdAt: Timestamp(secondsSince1970: row[7]),
            revokedAt: (row[8] as Int64?).map(Timestamp.init(secondsSince1970:))
        )
    }

    func shareLink(tokenHash: String) throws -> ShareLink? {
        try first("SELECT \(Self.shareColumns) FROM share_links WHERE token_hash = ?", [tokenHash], Self.shareLink(from:))
    }

    func shareLink(id: String, organizationID: String, ownerID: String) throws -> ShareLink? {
        try first("SELECT \(Self.shareColumns) FROM share_links WHERE id = ? AND organization_id = ? AND owner_user_id = ?",
                  [id, organizationID, ownerID], Self.shareLink(from:))
    }

    func insert(_ link: ShareLink) throws {
        try db.cachedStatement(sql: "INSERT INTO share_links (\(Self.shareColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .execute(arguments: [
                link.id, link.tokenHash, link.collectionID, link.organizationID, link.ownerID, link.visibility.rawValue,
                link.expiresAt?.secondsSince1970, link.createdAt.secondsSince1970, link.revokedAt?.secondsSince1970,
            ])
    }

    func revokeShareLink(id: String, at time: Timestamp) throws {
        try db.cachedStatement(sql: "UPDATE share_links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .execute(arguments: [time.secondsSince1970, id])
    }

    func insert(_ track: Track) throws {
        try db.cachedStatement(sql: """
            INSERT INTO tracks (id, organization_id, owner_user_id, title, engine, mode, measured_duration_seconds,
                                instrumental, mime_type, licence_class, created_at, deleted_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
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

    private static func collection(from row: Row) -> Collection {
        Collection(
            id: row[0], organizationID: row[1], ownerID: row[2], name: row[3], description: row[4],
            coverTrackID: row[5], coverImageURL: row[6], trackCount: row[7], version: row[8],
            createdAt: Timestamp(secondsSince1970: row[9]), updatedAt: Timestamp(secondsSince1970: row[10]),
            deletedAt: (row[11] as Int64?).map(Timestamp.init(secondsSince1970:))
        )
    }

    func collection(id: String, organizationID: String, ownerID: String) throws -> Collection? {
        let sql = """
            SELECT \(Self.collectionColumns) FROM collections
            WHERE id = ? AND organization_id = ? AND owner_user_id = ? AND deleted_at IS NULL
            """
        return try first(sql, [id, organizationID, ownerID], Self.collection(from:))
    }

    func collections(organizationID: String, ownerID: String, limit: Int, offset: Int) throws -> [Collection] {
        let sql = """
            SELECT \(Self.collectionColumns) FROM collections
            WHERE organization_id = ? AND owner_user_id = ? AND deleted_at IS NULL
            ORDER BY created_at DESC, seq DESC LIMIT ? OFFSET ?
            """
        return try all(sql, [organizationID, ownerID, limit, offset], Self.collection(from:))
    }

    func anyCollection(id: String) throws -> Collection? {
        try first("SELECT \(Self.collectionColumns) FROM collections WHERE id = ?", [id], Self.collection(from:))
    }

    func insert(_ collection: Collection) throws {
        try db.cachedStatement(sql: """
            INSERT INTO collections (\(Self.collectionColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: arguments(of: collection))
    }

    func update(_ collection: Collection) throws {
        try db.cachedStatement(sql: """
            UPDATE collections SET name = ?, description = ?, cover_track_id = ?, cover_image_url = ?,
                track_count = ?, version = ?, updated_at = ?, deleted_at = ?
            WHERE id = ?
            """).execute(arguments: [
                collection.name, collection.description, collection.coverTrackID, collection.coverImageURL,
                collection.trackCount, collection.version, collection.updatedAt.secondsSince1970,
                collection.deletedAt?.secondsSince1970, collection.id,
            ])
    }

    private func arguments(of collection: Collection) -> StatementArguments {
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
        return try Int.fetchOne(db.cachedStatement(sql: sql), arguments: [collectionID, trackID])
    }

    func members(collectionID: String, fromPosition position: Int, limit: Int) throws -> [CollectionMember] {
        let sql = """
            SELECT track_id, position, added_at FROM collection_tracks
            WHERE collection_id = ? AND position >= ? ORDER BY position LIMIT ?
            """
        return try all(sql, [collectionID, position, limit]) { row in
            CollectionMember(trackID: row[0], position: row[1], addedAt: Timestamp(secondsSince1970: row[2]))
        }
    }

    func memberTrackIDs(collectionID: String) throws -> [String] {
        let sql = "SELECT track_id FROM collection_tracks WHERE collection_id = ? ORDER BY position"
        return try String.fetchAll(db.cachedStatement(sql: sql), arguments: [collectionID])
    }

    func appendMember(collectionID: String, trackID: String, position: Int, addedAt: Timestamp) throws {
        try db.cachedStatement(sql: "INSERT INTO collection_tracks (collection_id, track_id, position, added_at) VALUES (?, ?, ?, ?)")
            .execute(arguments: [collectionID, trackID, position, addedAt.secondsSince1970])
    }

    func removeMember(collectionID: String, trackID: String, position: Int) throws {
        try db.cachedStatement(sql: "DELETE FROM collection_tracks WHERE collection_id = ? AND track_id = ?")
            .execute(arguments: [collectionID, trackID])
        try db.cachedStatement(sql: "UPDATE collection_tracks SET position = position - 1 WHERE collection_id = ? AND position > ?")
            .execute(arguments: [collectionID, position])
    }

    func reorderMembers(collectionID: String, from oldOrder: [String], to newOrder: [String]) throws {
        let statement = try db.cachedStatement(sql: "UPDATE collection_tracks SET position = ? WHERE collection_id = ? AND track_id = ?")
        for (position, trackID) in newOrder.enumerated() where oldOrder[position] != trackID {
            try statement.execute(arguments: [position, collectionID, trackID])
        }
    }
}
