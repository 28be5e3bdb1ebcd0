import GRDB

/// The schema, versioned with GRDB's `DatabaseMigrator`.
///
/// Sized for large collections: members carry a dense `position` indexed per
/// collection, so appending (`position = track_count`) and reading a page deep
/// in a collection (`position >= offset`) cost the same at 10 or 10,000 tracks.
enum SQLiteMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
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
                """)
        }
        migrator.registerMigration("v2: share links") { db in
            try db.execute(sql: """
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
                """)
        }
        migrator.registerMigration("v3: idempotency keys") { db in
            try db.execute(sql: """
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
                """)
        }
        migrator.registerMigration("v4: collections without AUTOINCREMENT") { db in
            // AUTOINCREMENT read and rewrote sqlite_sequence on every create. Rows of
            // collections are never deleted (a deletion is a deleted_at), so a plain
            // INTEGER PRIMARY KEY hands out the same increasing numbers: max + 1.
            // SQLite's table rebuild (https://www.sqlite.org/lang_altertable.html#otheralter);
            // GRDB runs a migration with foreign keys off and checks them after.
            try db.execute(sql: """
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
                """)
        }
        return migrator
    }
}
