import MusicCore

/// Every statement the store runs through `StatementCache`, by name: a
/// connection's prepared statements are found by the case's index, and the SQL
/// text is built only to prepare it (or to report an error). Adding a query is
/// adding a case here.
enum StatementID: Int, CaseIterable {
    // Transaction control.
    case beginDeferred, beginImmediate, commit, rollback
    case savepoint, rollbackToSavepoint, releaseSavepoint
    case dataVersion

    // Identity.
    case membership, credentials, organization, user
    case insertOrganization, insertUser, upsertMembership, deleteMembership, insertAPIKey, deactivateAPIKey

    // Tracks.
    case trackByID, trackExists, tracksPage, memberTracksPage, collectionIDsContainingTrack, markTrackDeleted, insertTrack

    // Idempotency keys.
    case idempotencyRecord, dropExpiredIdempotencyRecords, keepIdempotencyRecord

    // Share links.
    case shareLinkByTokenHash, shareLinkByID, insertShareLink, revokeShareLink

    // Collections.
    case liveCollectionByID, collectionsPage, anyCollectionByID, insertCollectionIfIDFree
    case updateLiveCollection, updateDeletingCollection

    // Members.
    case memberPosition, members, memberTrackIDs, appendMember, removeMember, closeGapAfterMember, moveMember

    /// The statement's text, in SQLite's dialect.
    var sql: String {
        switch self {
        case .beginDeferred: "BEGIN DEFERRED TRANSACTION"
        case .beginImmediate: "BEGIN IMMEDIATE TRANSACTION"
        case .commit: "COMMIT TRANSACTION"
        case .rollback: "ROLLBACK TRANSACTION"
        case .savepoint: "SAVEPOINT group_commit_member"
        case .rollbackToSavepoint: "ROLLBACK TO SAVEPOINT group_commit_member"
        case .releaseSavepoint: "RELEASE SAVEPOINT group_commit_member"
        case .dataVersion: "PRAGMA data_version"

        case .membership:
            "SELECT capabilities FROM memberships WHERE user_id = ? AND organization_id = ?"
        case .credentials:
            """
            SELECT \(RowMapping.apiKeyColumns), m.capabilities
            FROM api_keys k LEFT JOIN memberships m ON m.user_id = k.user_id AND m.organization_id = ?
            WHERE k.key_hash = ?
            """
        case .organization: "SELECT \(RowMapping.organizationColumns) FROM organizations WHERE id = ?"
        case .user: "SELECT \(RowMapping.userColumns) FROM users WHERE id = ?"
        case .insertOrganization:
            "INSERT INTO organizations (\(RowMapping.organizationColumns)) VALUES \(Self.values(RowMapping.organizationColumns))"
        case .insertUser: "INSERT INTO users (\(RowMapping.userColumns)) VALUES \(Self.values(RowMapping.userColumns))"
        case .upsertMembership:
            """
            INSERT INTO memberships (organization_id, user_id, capabilities) VALUES (?, ?, ?)
            ON CONFLICT (user_id, organization_id) DO UPDATE SET capabilities = excluded.capabilities
            """
        case .deleteMembership: "DELETE FROM memberships WHERE user_id = ? AND organization_id = ?"
        case .insertAPIKey: "INSERT INTO api_keys (id, user_id, key_hash, active, created_at) VALUES (?, ?, ?, ?, ?)"
        case .deactivateAPIKey: "UPDATE api_keys SET active = 0 WHERE id = ?"

        case .trackByID:
            "SELECT \(RowMapping.trackColumns) FROM tracks t WHERE t.id = ? AND t.organization_id = ? AND t.deleted_at IS NULL"
        case .trackExists:
            "SELECT 1 FROM tracks t WHERE t.id = ? AND t.organization_id = ? AND t.deleted_at IS NULL"
        case .tracksPage:
            """
            SELECT \(RowMapping.trackColumns) FROM tracks t
            WHERE t.organization_id = ? AND t.deleted_at IS NULL
            ORDER BY t.created_at DESC, t.id DESC LIMIT ? OFFSET ?
            """
        case .memberTracksPage:
            """
            SELECT \(RowMapping.memberTrackColumns) FROM collection_tracks m JOIN tracks t ON t.id = m.track_id
            WHERE m.collection_id = ? AND m.position >= ? AND t.deleted_at IS NULL
            ORDER BY m.position LIMIT ?
            """
        // The index on track_id holds the key's collection_id (a WITHOUT ROWID
        // table): this order costs no sort.
        case .collectionIDsContainingTrack:
            "SELECT collection_id FROM collection_tracks WHERE track_id = ? ORDER BY collection_id"
        case .markTrackDeleted: "UPDATE tracks SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL"
        case .insertTrack:
            "INSERT INTO tracks (\(RowMapping.trackInsertColumns)) VALUES \(Self.values(RowMapping.trackInsertColumns))"

        case .idempotencyRecord:
            """
            SELECT \(RowMapping.idempotencyColumns)
            FROM idempotency_records WHERE organization_id = ? AND user_id = ? AND key = ?
            """
        case .dropExpiredIdempotencyRecords: "DELETE FROM idempotency_records WHERE created_at <= ?"
        case .keepIdempotencyRecord:
            """
            INSERT OR REPLACE INTO idempotency_records (\(RowMapping.idempotencyColumns))
            VALUES \(Self.values(RowMapping.idempotencyColumns))
            """

        case .shareLinkByTokenHash: "SELECT \(RowMapping.shareLinkColumns) FROM share_links WHERE token_hash = ?"
        case .shareLinkByID:
            "SELECT \(RowMapping.shareLinkColumns) FROM share_links WHERE id = ? AND organization_id = ? AND owner_user_id = ?"
        case .insertShareLink:
            "INSERT INTO share_links (\(RowMapping.shareLinkColumns)) VALUES \(Self.values(RowMapping.shareLinkColumns))"
        case .revokeShareLink: "UPDATE share_links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"

        case .liveCollectionByID:
            """
            SELECT \(RowMapping.collectionColumns) FROM collections
            WHERE id = ? AND organization_id = ? AND owner_user_id = ? AND deleted_at IS NULL
            """
        case .collectionsPage:
            """
            SELECT \(RowMapping.collectionColumns) FROM collections
            WHERE organization_id = ? AND owner_user_id = ? AND deleted_at IS NULL
            ORDER BY created_at DESC, seq DESC LIMIT ? OFFSET ?
            """
        case .anyCollectionByID: "SELECT \(RowMapping.collectionColumns) FROM collections WHERE id = ?"
        case .insertCollectionIfIDFree:
            """
            INSERT INTO collections (\(RowMapping.collectionColumns)) VALUES \(Self.values(RowMapping.collectionColumns))
            ON CONFLICT (id) DO NOTHING
            """
        // A live collection's deleted_at stays out of the SET list: SQLite maintains
        // every index that names an assigned column, and the owner index's WHERE names it.
        case .updateLiveCollection: Self.updateCollection + " WHERE id = ?"
        // A deletion is final: an earlier deletion time stays.
        case .updateDeletingCollection: Self.updateCollection + ", deleted_at = COALESCE(deleted_at, ?) WHERE id = ?"

        case .memberPosition: "SELECT position FROM collection_tracks WHERE collection_id = ? AND track_id = ?"
        case .members:
            """
            SELECT \(RowMapping.memberColumns) FROM collection_tracks
            WHERE collection_id = ? AND position >= ? ORDER BY position LIMIT ?
            """
        case .memberTrackIDs: "SELECT track_id FROM collection_tracks WHERE collection_id = ? ORDER BY position"
        case .appendMember:
            "INSERT INTO collection_tracks (collection_id, track_id, position, added_at) VALUES (?, ?, ?, ?)"
        case .removeMember: "DELETE FROM collection_tracks WHERE collection_id = ? AND track_id = ?"
        case .closeGapAfterMember:
            "UPDATE collection_tracks SET position = position - 1 WHERE collection_id = ? AND position > ?"
        case .moveMember: "UPDATE collection_tracks SET position = ? WHERE collection_id = ? AND track_id = ?"
        }
    }

    private static let updateCollection = """
        UPDATE collections SET name = ?, description = ?, cover_track_id = ?, cover_image_url = ?,
            track_count = ?, version = ?, updated_at = ?
        """

    /// `(?, ?, ...)`, one parameter per column of the list.
    private static func values(_ columns: String) -> String {
        "(" + Array(repeating: "?", count: RowMapping.count(of: columns)).joined(separator: ", ") + ")"
    }
}
