/// The column lists the stores select and the decoders of their rows, one of
/// each per model. A decoder reads the columns of its list in order, from
/// `base` on (a query may put other columns first). The decoders are public and
/// inlinable so that each store gets them specialized for its own row type: as
/// `package` declarations their bodies were not available to the stores'
/// modules, and every column was read through the protocol's witnesses.
/// The records they build (`Model/`, and `Timestamp`) are public for the same
/// reason; everything else in the package is `package`.
public enum RowMapping {
    /// How many columns a list names (for an INSERT's parameters).
    public static func count(of columns: String) -> Int {
        columns.utf8.reduce(1) { $1 == UInt8(ascii: ",") ? $0 + 1 : $0 }
    }

    // MARK: Identity

    public static let organizationColumns = "id, name, created_at"

    @inlinable public static func organization<Row: StoreRow>(_ row: Row) -> Organization {
        Organization(id: row.string(0), name: row.string(1), createdAt: row.timestamp(2))
    }

    public static let userColumns = "id, email, created_at"

    @inlinable public static func user<Row: StoreRow>(_ row: Row) -> User {
        User(id: row.string(0), email: row.string(1), createdAt: row.timestamp(2))
    }

    /// An API key's columns, the table named `k`.
    public static let apiKeyColumns = "k.id, k.user_id, k.key_hash, k.active, k.created_at"

    @inlinable public static func apiKey<Row: StoreRow>(_ row: Row) -> APIKeyRecord {
        APIKeyRecord(id: row.string(0), userID: row.string(1), hash: row.string(2), active: row.bool(3),
                     createdAt: row.timestamp(4))
    }

    /// How a membership's capabilities are stored: their names, sorted, comma-separated.
    @inlinable public static func capabilitiesText(_ capabilities: Set<Capability>) -> String {
        capabilities.map(\.rawValue).sorted().joined(separator: ",")
    }

    /// A membership from its stored capabilities (`capabilitiesText`).
    @inlinable public static func membership(capabilities text: String, userID: String, organizationID: String) -> Membership {
        // Most memberships hold one capability: no split, no Substrings (this runs on
        // every authenticated request; docs/performance.md).
        let capabilities: Set<Capability> = text.utf8.contains(UInt8(ascii: ","))
            ? Set(text.split(separator: ",").map { Capability(rawValue: String($0)) })
            : text.isEmpty ? [] : [Capability(rawValue: text)]
        return Membership(organizationID: organizationID, userID: userID, capabilities: capabilities)
    }

    // MARK: Tracks

    /// A track's columns, the table named `t` (queries join it with members).
    public static let trackColumns = """
        t.id, t.organization_id, t.owner_user_id, t.title, t.engine, t.mode, t.measured_duration_seconds, \
        t.instrumental, t.mime_type, t.licence_class, t.created_at, t.deleted_at, t.licence_version
        """
    /// The same columns, unqualified, for an INSERT.
    public static let trackInsertColumns = """
        id, organization_id, owner_user_id, title, engine, mode, measured_duration_seconds, \
        instrumental, mime_type, licence_class, created_at, deleted_at, licence_version
        """

    @inlinable public static func track<Row: StoreRow>(_ row: Row, base: Int32 = 0) -> Track {
        Track(
            id: row.string(base), organizationID: row.string(base + 1), ownerID: row.string(base + 2),
            title: row.string(base + 3), engine: row.string(base + 4), mode: row.string(base + 5),
            measuredDurationSeconds: row.optionalDouble(base + 6), instrumental: row.bool(base + 7),
            mimeType: row.string(base + 8), licenceClass: row.string(base + 9), licenceVersion: row.string(base + 12),
            createdAt: row.timestamp(base + 10), deletedAt: row.optionalTimestamp(base + 11)
        )
    }

    /// A member's position, then its track (`trackColumns`).
    public static let memberTrackColumns = "m.position, " + trackColumns

    @inlinable public static func memberTrack<Row: StoreRow>(_ row: Row) -> CollectionTrack {
        CollectionTrack(track: track(row, base: 1), position: row.int(0))
    }

    // MARK: Collections

    public static let collectionColumns = """
        id, organization_id, owner_user_id, name, description, cover_track_id, cover_image_url, \
        track_count, version, created_at, updated_at, deleted_at
        """

    @inlinable public static func collection<Row: StoreRow>(_ row: Row) -> MusicCollection {
        MusicCollection(
            id: row.string(0), organizationID: row.string(1), ownerID: row.string(2), name: row.string(3),
            description: row.optionalString(4), coverTrackID: row.optionalString(5), coverImageURL: row.optionalString(6),
            trackCount: row.int(7), version: row.int(8), createdAt: row.timestamp(9), updatedAt: row.timestamp(10),
            deletedAt: row.optionalTimestamp(11)
        )
    }

    public static let memberColumns = "track_id, position, added_at"

    @inlinable public static func appendMember<Row: StoreRow>(_ row: Row, to page: inout MemberPage) {
        let position = row.int(1), addedAt = row.timestamp(2)
        row.withUTF8(0) { page.append(trackIDUTF8: $0, position: position, addedAt: addedAt) }
    }

    // MARK: Share links

    /// A link's columns. `target_type` names the kind of link; of
    /// `collection_id` and `track_id`, the one of its kind is set.
    public static let shareLinkColumns = """
        id, token_hash, collection_id, organization_id, owner_user_id, visibility, expires_at, created_at, revoked_at, \
        target_type, track_id
        """

    @inlinable public static func shareLink<Row: StoreRow>(_ row: Row) -> ShareLink {
        ShareLink(
            id: row.string(0), tokenHash: row.string(1),
            target: row.string(9) == "track" ? .track(row.string(10)) : .collection(row.string(2)),
            organizationID: row.string(3), ownerID: row.string(4),
            visibility: ShareLink.Visibility(rawValue: row.string(5)) ?? .linkOnly,
            expiresAt: row.optionalTimestamp(6), createdAt: row.timestamp(7), revokedAt: row.optionalTimestamp(8)
        )
    }

    // MARK: Idempotency keys

    public static let idempotencyColumns = """
        organization_id, user_id, key, request_hash, status, response_body, location, etag, created_at
        """

    @inlinable public static func idempotencyRecord<Row: StoreRow>(_ row: Row) -> IdempotencyRecord {
        IdempotencyRecord(
            organizationID: row.string(0), userID: row.string(1), key: row.string(2), requestHash: row.string(3),
            status: row.int(4), body: row.bytes(5), location: row.optionalString(6), etag: row.optionalString(7),
            createdAt: row.timestamp(8)
        )
    }
}
