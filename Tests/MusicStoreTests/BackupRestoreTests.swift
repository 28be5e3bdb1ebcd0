import Foundation
import MusicCore
import MusicSQLite
import Testing

/// `music-admin backup` and `restore` on the SQLite file.
@Suite("SQLite backup and restore")
struct BackupRestoreTests {
    let directory = NSTemporaryDirectory() + "music-backup-" + UUID().uuidString
    var path: String { directory + "/music.sqlite" }

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func withStore<T>(_ body: (SQLiteStore) throws -> T) throws -> T {
        let store = try SQLiteStore(path: path)
        return try body(store)
    }

    func files() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: directory).sorted() }

    func mode(_ file: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    /// What the file holds and when it last changed: a restore must leave both.
    func fingerprint(_ file: String) throws -> (Data, Date?) {
        (try Data(contentsOf: URL(fileURLWithPath: file)),
         try FileManager.default.attributesOfItem(atPath: file)[.modificationDate] as? Date)
    }

    /// The message of what `body` threw, nil when it did not throw.
    func refusal(_ body: () throws -> Void) -> String? {
        do { try body() } catch { return "\(error)" }
        return nil
    }

    @Test("a backup is mode 0600, appears whole under its name, leaves no temporary file, and never replaces a file")
    func backupIsPrivateAndAtomic() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let backup = directory + "/backup.sqlite"
        try withStore { store in
            _ = try AdminService(store: store).createOrganization(name: "kept")
            try store.backup(to: backup)
        }
        #expect(try mode(backup) == 0o600)
        #expect(try files().filter { $0.contains("backup") } == ["backup.sqlite"])
        // Never over an existing file (the earlier backup stays as it was).
        let before = try fingerprint(backup)
        try withStore { store in #expect(refusal { try store.backup(to: backup) }?.contains("exists") == true) }
        #expect(try fingerprint(backup) == before)
        #expect(try files().filter { $0.contains("backup") } == ["backup.sqlite"])
    }

    @Test("restore refuses an empty file, a file that is not SQLite, a corrupt one and one without this schema; nothing changes")
    func restoreRefusesBadFiles() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let organization = try withStore { try AdminService(store: $0).createOrganization(name: "live").id }
        let empty = directory + "/empty.sqlite"
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        let text = directory + "/text.sqlite"
        #expect(FileManager.default.createFile(atPath: text, contents: Data(String(repeating: "not a database\n", count: 600).utf8)))
        let foreign = directory + "/foreign.sqlite"
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite.arguments = [foreign, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');"]
        try sqlite.run()
        sqlite.waitUntilExit()
        // A real backup with a page overwritten in the middle.
        let corrupt = directory + "/corrupt.sqlite"
        #expect(try withStore { store in try store.backup(to: corrupt) } == "ok")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: corrupt))
        #expect(bytes.count >= 4 * 4096)
        bytes.replaceSubrange(4096..<(3 * 4096), with: Data(repeating: 0x5a, count: 2 * 4096))
        try bytes.write(to: URL(fileURLWithPath: corrupt))

        let cases = [(empty, ["is empty"]), (text, ["not a sound SQLite database"]),
                     (corrupt, ["not a sound SQLite database", "fails the integrity check"]), (foreign, ["this service's schema"])]
        for (file, expected) in cases {
            let before = try fingerprint(file)
            let message = try withStore { store in refusal { try store.restore(from: file) } }
            #expect(message != nil, "\(file) was restored")
            if let message { #expect(expected.contains { message.contains($0) }, "\(file): \(message)") }
            #expect(try fingerprint(file) == before, "\(file) changed")
        }
        // The live database is untouched, and no file was left beside the candidates.
        #expect(try withStore { store in try store.read { try $0.organization(id: organization) } }?.name == "live")
        #expect(try files().filter { $0.hasSuffix("-wal") || $0.hasSuffix("-shm") || $0.hasSuffix("-journal") }
            .allSatisfy { $0.hasPrefix("music.sqlite") })
    }

    @Test("restore reads the backup without changing a byte of it or creating files beside it")
    func restoreLeavesBackupUntouched() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let backup = directory + "/backup.sqlite"
        let organization = try withStore { store in
            let organization = try AdminService(store: store).createOrganization(name: "in backup").id
            try store.backup(to: backup)
            _ = try AdminService(store: store).createOrganization(name: "after backup")
            return organization
        }
        let before = try fingerprint(backup)
        let siblings = try files()
        try withStore { store in
            try store.restore(from: backup)
            #expect(try store.read { try $0.organization(id: organization) }?.name == "in backup")
        }
        #expect(try fingerprint(backup) == before)
        #expect(try files().filter { $0.hasPrefix("backup.sqlite") } == siblings.filter { $0.hasPrefix("backup.sqlite") })
    }

    @Test("restore is refused while another store (a worker) has the database open, and works once it closed")
    func restoreRefusedWhileOpen() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let backup = directory + "/backup.sqlite"
        let store = try SQLiteStore(path: path)
        try store.backup(to: backup)
        let kept = try AdminService(store: store).createOrganization(name: "after backup").id
        var worker: SQLiteStore? = try SQLiteStore(path: path)
        #expect(worker != nil)
        let message = refusal { try store.restore(from: backup) }
        #expect(message?.contains("open in another process") == true, "\(message ?? "restored")")
        #expect(try store.read { try $0.organization(id: kept) } != nil)
        worker = nil
        try store.restore(from: backup)
        #expect(try store.read { try $0.organization(id: kept) } == nil)
    }

    @Test("restore through a link to the database (var/music.sqlite in the local stack) is refused while a worker has the file itself open")
    func restoreThroughLinkRefusedWhileOpen() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let link = directory + "/linked.sqlite"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "music.sqlite")
        let backup = directory + "/backup.sqlite"
        let worker = try SQLiteStore(path: path)
        try worker.backup(to: backup)
        let admin = try SQLiteStore(path: link)
        let message = refusal { try admin.restore(from: backup) }
        #expect(message?.contains("open in another process") == true, "\(message ?? "restored")")
        #expect(FileManager.default.fileExists(atPath: link + "-open.lock") == false)
    }
}
