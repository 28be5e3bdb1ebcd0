import GRDB
import MusicCore

/// The schema, versioned: migrations applied in order, each recorded in
/// `grdb_migrations` (the table GRDB's `DatabaseMigrator` keeps, so databases
/// it migrated carry on).
///
/// Sized for large collections: members carry a dense `position` indexed per
/// collection, so appending (`position = track_count`) and reading a page deep
/// in a collection (`position >= offset`) cost the same at 10 or 10,000 tracks.
enum SQLiteMigrations {
    static let migrations: [(name: String, sql: String)] = [
        ("v1", """
                CREATE TABLE organizations (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                );
                CREATE TABLE users (
                    id TEXT PRIMARY KEY NOT NULL,
                    email TEXT NOT NULL UNIQUE,
                    created_at INTEGER NOT NULL
                );
                CREATE TABLE memberships (
                    organization_id TEXT NOT NULL REFERENCES organizations(id),
                    user_id TEXT NOT NULL REFERENCES users(id),
                    capabilities TEXT NOT NULL,
                    PRIMARY KEY (user_id, organization_id)
                ) WITHOUT ROWID;
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY NOT NULL,
                    user_id TEXT NOT NULL REFERENCES users(id),
                    key_hash TEXT NOT NULL UNIQUE,
                    active INTEGER NOT NULL,
                    created_at INTEGER NOT NULL
                );
                CREATE TABLE tracks (
                    id TEXT PRIMARY KEY NOT NULL,
                    organization_id TEXT NOT NULL REFERENCES organizations(id),
                    owner_user_id TEXT NOT NULL REFERENCES users(id),
                    title TEXT NOT NULL,
                    engine TEXT NOT NULL,
                    mode TEXT NOT NULL,
                    measured_duration_seconds REAL,
                    instrumental INTEGER NOT NULL,
                    mime_type TEXT NOT NULL,
                    licence_class TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    deleted_at INTEGER
                );
                CREATE INDEX tracks_by_organization ON tracks(organization_id, created_at);
                CREATE TABLE collections (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    organization_id TEXT NOT NULL REFERENCES organizations(id),
                    owner_user_id TEXT NOT NULL REFERENCES users(id),
                    name TEXT NOT NULL,
                    description TEXT,
                    cover_track_id TEXT,
                    cover_image_url TEXT,
                    track_count INTEGER NOT NULL,
                    version INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    deleted_at INTEGER
                );
                CREATE INDEX collections_by_owner
                    ON collections(organization_id, owner_user_id, created_at DESC, seq DESC)
                    WHERE deleted_at IS NULL;
                CREATE TABLE collection_tracks (
                    collection_id TEXT NOT NULL REFERENCES collections(id),
                    track_id TEXT NOT NULL REFERENCES tracks(id),
                    position INTEGER NOT NULL,
                    added_at INTEGER NOT NULL,
                    PRIMARY KEY (collection_id, track_id)
                ) WITHOUT ROWID;
                CREATE INDEX collection_tracks_by_position ON collection_tracks(collection_id, position);
                """),
        ("v2: share links", """
                CREATE TABLE share_links (
                    id TEXT PRIMARY KEY NOT NULL,
                    token_hash TEXT NOT NULL UNIQUE,
                    collection_id TEXT NOT NULL REFERENCES collections(id),
                    organization_id TEXT NOT NULL REFERENCES organizations(id),
                    owner_user_id TEXT NOT NULL REFERENCES users(id),
                    visibility TEXT NOT NULL,
                    expires_at INTEGER,
                    created_at INTEGER NOT NULL,
                    revoked_at INTEGER
                );
                CREATE INDEX collection_tracks_by_track ON collection_tracks(track_id);
                CREATE INDEX tracks_newest ON tracks(organization_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
                """),
        ("v3: idempotency keys", """
                CREATE TABLE idempotency_keys (
                    user_id TEXT NOT NULL,
                    key TEXT NOT NULL,
                    request_hash TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    response_body BLOB NOT NULL,
                    location TEXT,
                    etag TEXT,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (user_id, key)
                ) WITHOUT ROWID;
                CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);
                """),
        // AUTOINCREMENT read and rewrote sqlite_sequence on every create. Rows of
        // collections are never deleted (a deletion is a deleted_at), so a plain
        // INTEGER PRIMARY KEY hands out the same increasing numbers: max + 1.
        // SQLite's table rebuild (https://www.sqlite.org/lang_altertable.html#otheralter);
        // migrations run with foreign keys off and checked before the commit.
        ("v4: collections without AUTOINCREMENT", """
                CREATE TABLE collections_rebuilt (
                    seq INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    organization_id TEXT NOT NULL REFERENCES organizations(id),
                    owner_user_id TEXT NOT NULL REFERENCES users(id),
                    name TEXT NOT NULL,
                    description TEXT,
                    cover_track_id TEXT,
                    cover_image_url TEXT,
                    track_count INTEGER NOT NULL,
                    version INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    deleted_at INTEGER
                );
                INSERT INTO collections_rebuilt
                    SELECT seq, id, organization_id, owner_user_id, name, description, cover_track_id, cover_image_url,
                           track_count, version, created_at, updated_at, deleted_at
                    FROM collections;
                DROP TABLE collections;
                ALTER TABLE collections_rebuilt RENAME TO collections;
                CREATE INDEX collections_by_owner
                    ON collections(organization_id, owner_user_id, created_at DESC, seq DESC)
                    WHERE deleted_at IS NULL;
                DELETE FROM sqlite_sequence WHERE name = 'collections';
                """),
        // Records keyed by organization, user and key. Older records keep working:
        // their organization is the one in the Location they kept (every kept
        // answer is a create's 201); one without it is dropped (at most a day's).
        ("v5: idempotency records per organization", """
            CREATE TABLE idempotency_records (
                organization_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                key TEXT NOT NULL,
                request_hash TEXT NOT NULL,
                status INTEGER NOT NULL,
                response_body BLOB NOT NULL,
                location TEXT,
                etag TEXT,
                created_at INTEGER NOT NULL,
                PRIMARY KEY (organization_id, user_id, key)
            ) WITHOUT ROWID;
            CREATE INDEX idempotency_records_by_age ON idempotency_records(created_at);
            INSERT INTO idempotency_records
                SELECT substr(location, 11, instr(substr(location, 11), '/') - 1),
                       user_id, key, request_hash, status, response_body, location, etag, created_at
                FROM idempotency_keys
                WHERE location LIKE '/v1/music/%/collections/%' AND instr(substr(location, 11), '/') > 1;
            """),
        // idempotency_keys stays for now: an upgrade restarts the workers one at a
        // time, and one of the previous version still reads and writes it meanwhile
        // (a DROP would turn its creates with an Idempotency-Key into 500s). A later
        // migration drops it.

        // Links learn what they open: a collection (every link made before) or a
        // track. collection_id loses NOT NULL, which SQLite changes only by a
        // rebuild (as v4). A worker of the previous version, until the upgrade
        // restarts it, reads a track's link as a link to no collection: its view
        // says "no longer available". Tracks record their licence version; those
        // made before, the first one.
        ("v6: track shares and licence versions", """
            CREATE TABLE share_links_rebuilt (
                id TEXT PRIMARY KEY NOT NULL,
                token_hash TEXT NOT NULL UNIQUE,
                collection_id TEXT REFERENCES collections(id),
                organization_id TEXT NOT NULL REFERENCES organizations(id),
                owner_user_id TEXT NOT NULL REFERENCES users(id),
                visibility TEXT NOT NULL,
                expires_at INTEGER,
                created_at INTEGER NOT NULL,
                revoked_at INTEGER,
                target_type TEXT NOT NULL DEFAULT 'collection',
                track_id TEXT REFERENCES tracks(id),
                CHECK ((target_type = 'collection' AND collection_id IS NOT NULL AND track_id IS NULL)
                       OR (target_type = 'track' AND track_id IS NOT NULL AND collection_id IS NULL))
            );
            INSERT INTO share_links_rebuilt
                    (id, token_hash, collection_id, organization_id, owner_user_id, visibility, expires_at, created_at, revoked_at)
                SELECT id, token_hash, collection_id, organization_id, owner_user_id, visibility, expires_at, created_at, revoked_at
                FROM share_links;
            DROP TABLE share_links;
            ALTER TABLE share_links_rebuilt RENAME TO share_links;
            ALTER TABLE tracks ADD COLUMN licence_version TEXT NOT NULL DEFAULT '\(Track.defaultLicenceVersion)';
            """),
    ]

    /// GRDB's migrator over the same list (tests build older schemas with it).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in migrations {
            migrator.registerMigration(migration.name) { db in try db.execute(sql: migration.sql) }
        }
        return migrator
    }

    /// Applies the pending migrations in one `BEGIN IMMEDIATE` transaction that
    /// also reads the list of applied ones: processes starting together on one
    /// file take turns, and the later ones find nothing left to do. (GRDB's
    /// migrator reads the list outside its transactions, so two of them both
    /// ran v1 and the second failed.) Foreign keys are off while the tables
    /// are rebuilt and checked before the commit
    /// (https://www.sqlite.org/lang_altertable.html#otheralter).
    static func migrate(_ db: Database) throws {
        try db.execute(sql: "PRAGMA foreign_keys = OFF")
        defer { try? db.execute(sql: "PRAGMA foreign_keys = ON") }
        try db.execute(sql: "BEGIN IMMEDIATE TRANSACTION")
        do {
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
            let applied = Set(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"))
            for migration in migrations where !applied.contains(migration.name) {
                try db.execute(sql: migration.sql)
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [migration.name])
            }
            if try Row.fetchOne(db, sql: "PRAGMA foreign_key_check") != nil {
                throw DatabaseError(resultCode: .SQLITE_CONSTRAINT_FOREIGNKEY, message: "a migration broke a foreign key")
            }
            try db.execute(sql: "COMMIT TRANSACTION")
        } catch {
            if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK TRANSACTION") }
            throw error
        }
    }
}
