import MusicCore

/// The PostgreSQL schema, versioned like SQLite's: the same migration names,
/// applied in order, each recorded in `schema_migrations`. Columns keep
/// SQLite's meaning (times are seconds since 1970 in BIGINT), so both stores
/// hold the same data.
enum PostgresMigrations {
    static let migrations: [(name: String, sql: String)] = [
        ("v1", """
            CREATE TABLE organizations (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                created_at BIGINT NOT NULL
            );
            CREATE TABLE users (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL UNIQUE,
                created_at BIGINT NOT NULL
            );
            CREATE TABLE memberships (
                organization_id TEXT NOT NULL REFERENCES organizations(id),
                user_id TEXT NOT NULL REFERENCES users(id),
                capabilities TEXT NOT NULL,
                PRIMARY KEY (user_id, organization_id)
            );
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users(id),
                key_hash TEXT NOT NULL UNIQUE,
                active BOOLEAN NOT NULL,
                created_at BIGINT NOT NULL
            );
            CREATE TABLE tracks (
                id TEXT PRIMARY KEY,
                organization_id TEXT NOT NULL REFERENCES organizations(id),
                owner_user_id TEXT NOT NULL REFERENCES users(id),
                title TEXT NOT NULL,
                engine TEXT NOT NULL,
                mode TEXT NOT NULL,
                measured_duration_seconds DOUBLE PRECISION,
                instrumental BOOLEAN NOT NULL,
                mime_type TEXT NOT NULL,
                licence_class TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                deleted_at BIGINT
            );
            CREATE INDEX tracks_by_organization ON tracks(organization_id, created_at);
            CREATE TABLE collections (
                seq BIGINT GENERATED ALWAYS AS IDENTITY,
                id TEXT PRIMARY KEY,
                organization_id TEXT NOT NULL REFERENCES organizations(id),
                owner_user_id TEXT NOT NULL REFERENCES users(id),
                name TEXT NOT NULL,
                description TEXT,
                cover_track_id TEXT,
                cover_image_url TEXT,
                track_count INTEGER NOT NULL CHECK (track_count BETWEEN 0 AND 10000),
                version BIGINT NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                deleted_at BIGINT
            );
            CREATE INDEX collections_by_owner
                ON collections(organization_id, owner_user_id, created_at DESC, seq DESC)
                WHERE deleted_at IS NULL;
            CREATE TABLE collection_tracks (
                collection_id TEXT NOT NULL REFERENCES collections(id),
                track_id TEXT NOT NULL REFERENCES tracks(id),
                position INTEGER NOT NULL,
                added_at BIGINT NOT NULL,
                PRIMARY KEY (collection_id, track_id)
            );
            CREATE INDEX collection_tracks_by_position ON collection_tracks(collection_id, position);
            """),
        ("v2: share links", """
            CREATE TABLE share_links (
                id TEXT PRIMARY KEY,
                token_hash TEXT NOT NULL UNIQUE,
                collection_id TEXT NOT NULL REFERENCES collections(id),
                organization_id TEXT NOT NULL REFERENCES organizations(id),
                owner_user_id TEXT NOT NULL REFERENCES users(id),
                visibility TEXT NOT NULL,
                expires_at BIGINT,
                created_at BIGINT NOT NULL,
                revoked_at BIGINT
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
                response_body BYTEA NOT NULL,
                location TEXT,
                etag TEXT,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (user_id, key)
            );
            CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);
            """),
        // As SQLite's v5: older records keep the organization of their Location.
        ("v5: idempotency records per organization", """
            CREATE TABLE idempotency_records (
                organization_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                key TEXT NOT NULL,
                request_hash TEXT NOT NULL,
                status INTEGER NOT NULL,
                response_body BYTEA NOT NULL,
                location TEXT,
                etag TEXT,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (organization_id, user_id, key)
            );
            CREATE INDEX idempotency_records_by_age ON idempotency_records(created_at);
            INSERT INTO idempotency_records
                SELECT split_part(location, '/', 4), user_id, key, request_hash, status, response_body, location, etag, created_at
                FROM idempotency_keys
                WHERE location LIKE '/v1/music/%/collections/%' AND split_part(location, '/', 4) <> '';
            """),
        // idempotency_keys stays for now: during a rolling upgrade, workers of the
        // previous version on other hosts still read and write it (a DROP would turn
        // their creates with an Idempotency-Key into 500s). A later migration drops
        // it, once no host runs a version before v5.

        // As SQLite's v6: links to a collection or a track; tracks' licence versions.
        // Only additions and a dropped NOT NULL: a worker of the previous version on
        // another host keeps reading and writing both tables.
        ("v6: track shares and licence versions", """
            ALTER TABLE share_links
                ALTER COLUMN collection_id DROP NOT NULL,
                ADD COLUMN target_type TEXT NOT NULL DEFAULT 'collection',
                ADD COLUMN track_id TEXT REFERENCES tracks(id),
                ADD CONSTRAINT share_links_one_target CHECK (
                    (target_type = 'collection' AND collection_id IS NOT NULL AND track_id IS NULL)
                    OR (target_type = 'track' AND track_id IS NOT NULL AND collection_id IS NULL));
            ALTER TABLE tracks ADD COLUMN licence_version TEXT NOT NULL DEFAULT '\(Track.defaultLicenceVersion)';
            """),
    ]

    /// The advisory lock every migration (and schema creation) holds.
    static let lockKey = 7_316_001

    /// Runs inside a transaction; the advisory lock, taken before the list of
    /// applied migrations is read, makes concurrent starts wait for the first
    /// to finish, then find nothing left to do.
    static func migrate(_ connection: PostgresConnection) throws {
        try connection.execute(simple: "SET LOCAL statement_timeout = 0; SELECT pg_advisory_xact_lock(\(lockKey))")
        try connection.execute(simple: """
            CREATE TABLE IF NOT EXISTS schema_migrations (identifier TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
            """)
        let applied = Set(try connection.query("SELECT identifier FROM schema_migrations", []) { $0.string(0) })
        for migration in migrations where !applied.contains(migration.name) {
            try connection.execute(simple: migration.sql)
            try connection.execute("INSERT INTO schema_migrations (identifier) VALUES ($1)", [migration.name])
        }
    }
}
