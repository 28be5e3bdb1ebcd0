import Foundation
import MusicCore
import MusicSQLite
import Testing

@Suite("The SQLite store")
struct SQLiteStoreTests {
    let path: String
    let store: SQLiteStore
    let admin: AdminService
    let caller: Caller
    let tracks: [Track]

    init() throws {
        let directory = NSTemporaryDirectory() + "music-store-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/music.sqlite"
        store = try SQLiteStore(path: path)
        admin = AdminService(store: store)
        let organization = try admin.createOrganization(name: "Org")
        let user = try admin.createUser(email: "u@o.test", organizationID: organization.id, capabilities: [.useMusicGeneration])
        caller = Caller(userID: user.id, organizationID: organization.id)
        tracks = try admin.createTracks((0..<20).map { .init(title: "T\($0)") }, organizationID: organization.id, ownerID: user.id)
    }

    @Test("the database is in WAL mode with synchronous=FULL, and passes the integrity check")
    func durabilitySettings() throws {
        let output = try sqlite(path, "PRAGMA journal_mode;")
        #expect(output == "wal")
        #expect(try store.integrityCheck() == "ok")
        let synchronous = try store.pragma("synchronous")
        #expect(synchronous == "2")
    }

    @Test("migrating twice is harmless")
    func migrateTwice() throws {
        try store.migrate()
        let again = try SQLiteStore(path: path)
        try again.migrate()
        #expect(try again.read { try $0.track(id: tracks[0].id, organizationID: caller.organizationID) } != nil)
    }

    @Test("a reorder rewrites positions in one transaction and keeps them dense")
    func reorderKeepsDensePositions() throws {
        let service = CollectionService(store: store)
        let collection = try service.create(CollectionDraft(name: "c"), as: caller)
        for track in tracks { _ = try service.addTrack(track.id, to: collection.id, as: caller) }
        let reversed = tracks.map(\.id).reversed()
        _ = try service.reorder(collection.id, to: Array(reversed), ifMatch: nil, as: caller)
        let members = try store.read { try $0.members(collectionID: collection.id, fromPosition: 0, limit: 100) }
        #expect(members.map(\.trackID) == Array(reversed))
        #expect(members.map(\.position) == Array(0..<20))
    }

    @Test("a failing transaction leaves nothing behind")
    func rollbackOnError() throws {
        struct Boom: Error {}
        let before = try store.read { try $0.organization(id: caller.organizationID) }
        #expect(throws: Boom.self) {
            try store.write { writer in
                try writer.insert(Organization(id: "org_00000000dead", name: "half", createdAt: .init(secondsSince1970: 0)))
                throw Boom()
            }
        }
        #expect(try store.read { try $0.organization(id: "org_00000000dead") } == nil)
        #expect(before != nil)
    }

    @Test("two store instances (as two worker processes) on one file see each other's writes")
    func twoConnectionsShareTheFile() throws {
        let other = try SQLiteStore(path: path)
        let service = CollectionService(store: store)
        let otherService = CollectionService(store: other)
        let collection = try service.create(CollectionDraft(name: "shared"), as: caller)
        _ = try otherService.addTrack(tracks[0].id, to: collection.id, as: caller)
        let (change, _) = try service.addTrack(tracks[0].id, to: collection.id, as: caller)
        #expect(change == .unchanged)
        #expect(try service.get(collection.id, as: caller).trackCount == 1)
    }

    @Test("a track import is all or none")
    func importIsAllOrNone() throws {
        let drafts: [AdminService.TrackDraft] = [.init(title: "ok"), .init(title: "")]
        #expect(throws: AdminService.AdminError.self) {
            _ = try admin.createTracks(drafts, organizationID: caller.organizationID, ownerID: caller.userID)
        }
        let count = try sqlite(path, "SELECT count(*) FROM tracks;")
        #expect(count == "20")
    }

    @Test("no raw API key is ever stored")
    func keysAreHashed() throws {
        let (_, raw) = try admin.createAPIKey(userID: caller.userID)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path)) + ((try? Data(contentsOf: URL(fileURLWithPath: path + "-wal"))) ?? Data())
        #expect(bytes.range(of: Data(raw.utf8)) == nil)
        #expect(bytes.range(of: Data(APIKey.hash(raw).utf8)) != nil)
    }
}

/// Runs the sqlite3 shell on the file: an outside view of what is stored.
func sqlite(_ path: String, _ sql: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    process.arguments = [path, sql]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}
