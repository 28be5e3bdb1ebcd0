/// Persistence behind the service. Every multi-step change runs inside one
/// `write` transaction; an implementation makes `write` exclusive for the
/// collection rows it touches (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: row locks).
package protocol Store: Sendable {
    /// Runs `body` in a read-only transaction: one consistent snapshot. Reads nest:
    /// a read started inside another on the same thread joins it, so a request can
    /// authenticate and answer from one snapshot at the cost of one transaction.
    func read<T>(_ body: (any StoreReader) throws -> T) throws -> T
    /// Runs `body` in a write transaction, committed durably before returning.
    /// Writes nest (an inner write joins the outer one), and a read inside a
    /// write reads within it: a request can authenticate and change data in one
    /// transaction. A write started inside a read on the same thread is refused
    /// with `WriteInsideReadError`, writing nothing: it could neither join the
    /// read's snapshot nor commit apart from it without breaking one of them.
    func write<T>(_ body: (any StoreWriter) throws -> T) throws -> T
    /// Whether the database answers: for the health check.
    func ping() throws
    /// A value that moves whenever any connection or process commits a change,
    /// as seen from this thread; nil when the store cannot tell cheaply. Answers
    /// kept against it are never stale (see MusicAPI's `ReadCache`).
    func changeStamp() -> Int64?
}

extension Store {
    package func changeStamp() -> Int64? { nil }
}

/// The queries one transaction can make.
package protocol StoreReader {
    func membership(userID: String, organizationID: String) throws -> Membership?
    /// The key with this hash and its user's membership in `organizationID` (nil
    /// when not a member): what authenticating a request reads, in one query.
    func credentials(hash: String, organizationID: String) throws -> (key: APIKeyRecord, membership: Membership?)?
    func organization(id: String) throws -> Organization?
    func user(id: String) throws -> User?

    /// A collection that is not deleted, owned by `ownerID` in `organizationID`.
    func collection(id: String, organizationID: String, ownerID: String) throws -> MusicCollection?
    /// The caller's live collections, newest first (ties: the later created first).
    func collections(organizationID: String, ownerID: String, limit: Int, offset: Int) throws -> [MusicCollection]
    /// A track of `organizationID` that is not deleted.
    func track(id: String, organizationID: String) throws -> Track?
    /// Whether `track(id:organizationID:)` would find the track (without reading it).
    func trackExists(id: String, organizationID: String) throws -> Bool

    /// The position of `trackID` in the collection, if it is a member.
    func memberPosition(collectionID: String, trackID: String) throws -> Int?
    /// Members from `position` on, position ascending, at most `limit`.
    func members(collectionID: String, fromPosition position: Int, limit: Int) throws -> MemberPage
    /// Every member's track id, position ascending.
    func memberTrackIDs(collectionID: String) throws -> [String]

    /// Live tracks of a collection from `position` on, in collection order.
    func memberTracks(collectionID: String, fromPosition position: Int, limit: Int) throws -> [CollectionTrack]
    /// Live tracks of the organization, newest first.
    func tracks(organizationID: String, limit: Int, offset: Int) throws -> [Track]
    /// The ids of the collections (deleted or not) that hold `trackID`, in id order
    /// (a deletion that visits them locks their rows in one order everywhere).
    func collectionIDs(containing trackID: String) throws -> [String]
    /// A collection by id alone, deleted or not (share views, admin work).
    func anyCollection(id: String) throws -> MusicCollection?

    /// The kept answer to the caller's earlier request with this idempotency key
    /// in this organization.
    func idempotencyRecord(organizationID: String, userID: String, key: String) throws -> IdempotencyRecord?

    /// The share link whose token hashes to `tokenHash`.
    func shareLink(tokenHash: String) throws -> ShareLink?
    /// A share link of `ownerID` in `organizationID`.
    func shareLink(id: String, organizationID: String, ownerID: String) throws -> ShareLink?
}

/// The changes one write transaction can make.
package protocol StoreWriter: StoreReader {
    func insert(_ organization: Organization) throws
    func insert(_ user: User) throws
    func upsert(_ membership: Membership) throws
    /// Ends a membership; returns false when there is none.
    func removeMembership(userID: String, organizationID: String) throws -> Bool
    func insert(_ key: APIKeyRecord) throws
    /// Marks a key inactive; returns false when there is no such key.
    func deactivateAPIKey(id: String) throws -> Bool
    func insert(_ track: Track) throws

    /// Inserts a new collection; returns false, writing nothing, when its id is
    /// taken already (the caller draws another id).
    func insertIfIDFree(_ collection: MusicCollection) throws -> Bool
    /// Writes every field of an existing collection; a deletion is final (a
    /// deleted collection keeps its deletion time, whatever `deletedAt` says).
    func update(_ collection: MusicCollection) throws

    /// Adds a member at `position` (the current end).
    func appendMember(collectionID: String, trackID: String, position: Int, addedAt: Timestamp) throws
    /// Removes the member at `position` and closes the gap behind it.
    func removeMember(collectionID: String, trackID: String, position: Int) throws
    func insert(_ link: ShareLink) throws
    /// Keeps an answer (replacing an expired record of the same organization,
    /// user and key) and drops
    /// records older than 24 hours.
    func keep(_ record: IdempotencyRecord) throws
    /// Marks the link revoked at `time`, unless it already is.
    func revokeShareLink(id: String, at time: Timestamp) throws
    /// Marks a live track deleted; returns false when there is no such live track.
    func markTrackDeleted(id: String, at time: Timestamp) throws -> Bool

    /// Gives the members the positions of `newOrder`; `oldOrder` is the current
    /// order (both hold the same ids), so only moved members need writing.
    func reorderMembers(collectionID: String, from oldOrder: [String], to newOrder: [String]) throws
}
