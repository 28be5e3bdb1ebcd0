import ArgumentParser
import Foundation
import MusicCore
import MusicSQLite
import MusicStores

@main
struct MusicAdmin: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "music-admin",
        abstract: "Administration of the music collections service.",
        version: musicCollectionsVersion,
        subcommands: [Migrate.self, Org.self, UserCommand.self, Member.self, Key.self, TrackCommand.self, DemoCommand.self,
                      Backup.self, Restore.self]
    )
}

/// `--db`, `--database-url` and `--json`, shared by every command.
struct CommonOptions: ParsableArguments {
    @Option(help: "SQLite database file (default: $MUSIC_DB, else var/music.sqlite).")
    var db: String?

    @Option(help: "A PostgreSQL URL (postgres://...); selects PostgreSQL instead of SQLite (default: $MUSIC_DATABASE_URL).")
    var databaseURL: String?

    @Flag(help: "Print a JSON object instead of text.")
    var json = false

    var storeChoice: StoreChoice {
        get throws { try StoreChoice.resolve(url: databaseURL, sqlitePath: db) }
    }

    /// The store, migrated.
    func openStore() throws -> any Store {
        try storeChoice.open(connections: 2)
    }

    /// The SQLite store, for the commands that work on the file itself; migrated
    /// unless `migrate` is false.
    func openSQLiteStore(for command: String, migrate: Bool = true) throws -> SQLiteStore {
        guard case .sqlite(let path) = try storeChoice else {
            throw ValidationError("\(command) works on the SQLite file; on PostgreSQL use pg_dump and pg_restore (README: Scaling out)")
        }
        return try SQLiteStore(path: path, migrate: migrate)
    }

    /// Prints `fields` as a JSON object with --json, else as `name: value` lines.
    func report(_ fields: [(String, Any)]) throws {
        if json {
            let object = Dictionary(fields, uniquingKeysWith: { first, _ in first })
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for (name, value) in fields {
                if let list = value as? [String] { print("\(name): \(list.joined(separator: " "))") } else { print("\(name): \(value)") }
            }
        }
    }
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create or upgrade the database schema.")
    @OptionGroup var options: CommonOptions

    func run() throws {
        _ = try options.openStore() // opening migrates
        try options.report([("id", "schema"), ("status", "migrated"), ("database", try options.storeChoice.displayName)])
    }
}

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the live database to PATH, consistently, while workers write (SQLite online backup).",
        discussion: "The copy is mode 0600, written under a temporary name in PATH's folder, synced, checked, then given its name."
    )
    @OptionGroup var options: CommonOptions
    @Argument(help: "The backup file to write (must not exist).") var path: String

    func run() throws {
        guard !FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path) exists; choose a new file") }
        // The file as it is: a backup taken before an upgrade's migration must hold
        // the schema from before it.
        let store = try options.openSQLiteStore(for: "backup", migrate: false)
        let check = try store.backup(to: path)
        try options.report([("id", path), ("integrity", check)])
    }
}

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the database with a backup. Refused while workers have it open (deploy/down first).",
        discussion: "The backup is checked (not empty, integrity_check, this service's schema) without being modified."
    )
    @OptionGroup var options: CommonOptions
    @Argument(help: "The backup file to restore.") var path: String

    func run() throws {
        guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("no backup at \(path)") }
        let store = try options.openSQLiteStore(for: "restore")
        try store.restore(from: path)
        try store.migrate()
        try options.report([("id", path), ("integrity", try store.integrityCheck())])
    }
}

struct Org: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "org", abstract: "Organizations.", subcommands: [Create.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an organization.")
        @OptionGroup var options: CommonOptions
        @Option(help: "The organization's name.") var name: String

        func run() throws {
            let organization = try AdminService(store: options.openStore()).createOrganization(name: name)
            try options.report([("id", organization.id), ("name", organization.name)])
        }
    }
}

struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Users.", subcommands: [Create.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user, a member of one organization.")
        @OptionGroup var options: CommonOptions
        @Option(help: "The organization id (org_...).") var org: String
        @Option(help: "The user's e-mail address.") var email: String
        @Option(help: "A capability to grant, e.g. USE_MUSIC_GENERATION (repeatable).") var capability: [String] = []

        func run() throws {
            let user = try AdminService(store: options.openStore())
                .createUser(email: email, organizationID: org, capabilities: Set(capability.map(Capability.init(rawValue:))))
            try options.report([("id", user.id), ("email", user.email), ("organization_id", org), ("capabilities", capability.sorted())])
        }
    }
}

struct Member: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Memberships: a user may belong to several organizations.", subcommands: [Add.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a user a member of an organization; for a member already, set its capabilities to those given.")
        @OptionGroup var options: CommonOptions
        @Option(help: "The organization id (org_...).") var org: String
        @Option(help: "The user id (usr_...).") var user: String
        @Option(help: "A capability to grant, e.g. USE_MUSIC_GENERATION (repeatable; none: a member without capabilities).")
        var capability: [String] = []

        func run() throws {
            let (change, previous) = try AdminService(store: options.openStore())
                .addMember(userID: user, organizationID: org, capabilities: Set(capability.map(Capability.init(rawValue:))))
            var fields: [(String, Any)] = [("id", user), ("user_id", user), ("organization_id", org), ("status", change.rawValue),
                                           ("capabilities", Set(capability).sorted())]
            if let previous { fields.append(("previous_capabilities", previous.map(\.rawValue).sorted())) }
            try options.report(fields)
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End a user's membership of an organization.")
        @OptionGroup var options: CommonOptions
        @Option(help: "The organization id (org_...).") var org: String
        @Option(help: "The user id (usr_...).") var user: String

        func run() throws {
            try AdminService(store: options.openStore()).removeMember(userID: user, organizationID: org)
            try options.report([("id", user), ("user_id", user), ("organization_id", org), ("status", "removed")])
        }
    }
}

struct Key: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "API keys.", subcommands: [Create.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key; the raw key is printed once.")
        @OptionGroup var options: CommonOptions
        @Option(help: "The user id (usr_...).") var user: String

        func run() throws {
            let (record, raw) = try AdminService(store: options.openStore()).createAPIKey(userID: user)
            try options.report([("id", record.id), ("user_id", record.userID), ("key", raw)])
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deactivate an API key.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The key id (akey_...).") var keyID: String

        func run() throws {
            try AdminService(store: options.openStore()).revokeAPIKey(id: keyID)
            try options.report([("id", keyID), ("active", false)])
        }
    }
}

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Create demo data: an organization, a user with USE_MUSIC_GENERATION, an API key and 10 tracks."
    )
    @OptionGroup var options: CommonOptions
    @Option(help: "Also write the demo data as JSON to FILE (with --base-url).") var output: String?
    @Option(help: "The service's base URL, written to --output.") var baseURL: String = "https://localhost:8443"

    func run() throws {
        let demo = try AdminService(store: options.openStore()).createDemo()
        let fields: [(String, Any)] = [
            ("id", demo.organization.id), ("organization_id", demo.organization.id), ("user_id", demo.user.id),
            ("key_id", demo.keyID), ("api_key", demo.rawKey), ("track_ids", demo.tracks.map(\.id)), ("base_url", baseURL),
        ]
        if let output {
            let object = Dictionary(fields, uniquingKeysWith: { first, _ in first })
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
            let previous = umask(0o077)
            defer { umask(previous) }
            guard FileManager.default.createFile(atPath: output, contents: data) else {
                throw ValidationError("cannot write \(output)")
            }
        }
        try options.report(fields)
    }
}
