import Foundation
import MusicCore
import MusicPostgres
import MusicSQLite
import StoreTestSupport
import Testing

/// The store contract, on whichever store the run targets (see `TestDatabase`):
/// `deploy/test` runs this suite on SQLite and on PostgreSQL.
@Suite("The store")
struct StoreTests {
    let database: TestDatabase
    let store: any Store
    let admin: AdminService
    let caller: Caller
    let tracks: [Track]

    init() throws {
        database = try TestDatabase()
        store = database.store
        admin = AdminService(store: store)
        let organization = try admin.createOrganization(name: "Org")
        let user = try admin.createUser(email: "u@o.test", organizationID: organization.id, capabilities: [.useMusicGeneration])
        caller = Caller(userID: user.id, organizationID: organization.id)
        tracks = try admin.createTracks((0..<20).map { .init(title: "T\($0)") }, organizationID: organization.id, ownerID: user.id)
    }

    /// Seen from outside the store: the fixture's tracks are in a SQLite file, or
    /// in this test's schema on the server MUSIC_TEST_DATABASE_URL names, held
    /// through sessions the store opened there.
    @Test("the run targets the store it was asked for")
    func storeKind() throws {
        switch database.kind {
        case .sqlite(let path):
            #expect(TestDatabase.postgresURL == nil)
            #expect(store is SQLiteStore)
            let header = try FileHandle(forReadingFrom: URL(fileURLWithPath: path)).read(upToCount: 16)
            #expect(header == Data("SQLite format 3\0".utf8))
            #expect(try database.outsideQuery("SELECT count(*) FROM main.tracks") == "20")
        case .postgres(let url, let schema):
            #expect(url == TestDatabase.postgresURL)
            #expect(store is PostgresStore)
            #expect(try database.outsideQuery("SELECT count(*) FROM \(schema).tracks") == "20")
            let sessions = try database.outsideQuery("SELECT count(*) FROM pg_stat_activity WHERE application_name = '\(schema)'")
            #expect((Int(sessions) ?? 0) >= 1)
        }
    }

    @Test("opening and migrating again is harmless")
    func migrateTwice() throws {
        let again = try database.anotherStore()
        #expect(try again.read { try $0.track(id: tracks[0].id, organizationID: caller.organizationID) } != nil)
        #expect(try database.outsideQuery("SELECT count(*) FROM tracks") == "20")
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

    @Test("a create whose drawn id is taken draws again and leaves the holder of that id alone")
    func createRedrawsTakenID() throws {
        let existing = try CollectionService(store: store).create(CollectionDraft(name: "first"), as: caller)
        let draws = IDDraws([existing.id, existing.id, "mcoll_00000000beef"])
        let service = CollectionService(store: store, makeCollectionID: { draws.next() })
        let created = try service.create(CollectionDraft(name: "second"), as: caller)
        #expect(created.id == "mcoll_00000000beef")
        #expect(try service.get(created.id, as: caller).name == "second")
        #expect(try service.get(existing.id, as: caller) == existing)
        #expect(try database.outsideQuery("SELECT count(*) FROM collections") == "2")
    }

    @Test("a create that draws only taken ids fails and writes nothing")
    func createGivesUpOnTakenIDs() throws {
        let existing = try CollectionService(store: store).create(CollectionDraft(name: "first"), as: caller)
        let service = CollectionService(store: store, makeCollectionID: { existing.id })
        #expect(throws: CollectionService.CollectionIDsExhausted.self) {
            try service.create(CollectionDraft(name: "second"), as: caller)
        }
        #expect(try service.get(existing.id, as: caller) == existing)
        #expect(try database.outsideQuery("SELECT count(*) FROM collections") == "1")
    }

    @Test("updates write every field, keep a live collection listed, and never undo a deletion")
    func updatesAndDeletionIsFinal() throws {
        let service = CollectionService(store: store)
        let kept = try service.create(CollectionDraft(name: "kept"), as: caller)
        var changed = kept
        changed.name = "renamed"
        changed.description = "now described"
        changed.coverImageURL = "https://example.com/c.png"
        changed.trackCount = 3
        changed.version = 7
        changed.updatedAt = Timestamp(secondsSince1970: kept.updatedAt.secondsSince1970 + 60)
        try store.write { try $0.update(changed) }
        #expect(try store.read { try $0.collection(id: kept.id, organizationID: caller.organizationID, ownerID: caller.userID) } == changed)
        #expect(try service.list(limit: 10, offset: 0, as: caller).map(\.id) == [kept.id])

        var deleted = changed
        deleted.deletedAt = Timestamp(secondsSince1970: changed.updatedAt.secondsSince1970 + 1)
        try store.write { try $0.update(deleted) }
        #expect(try service.list(limit: 10, offset: 0, as: caller).isEmpty)
        // Written again without the mark, or with another time: still deleted, at the first time.
        var revived = deleted
        revived.deletedAt = nil
        revived.name = "revived"
        try store.write { try $0.update(revived) }
        var later = deleted
        later.deletedAt = Timestamp(secondsSince1970: deleted.deletedAt!.secondsSince1970 + 100)
        try store.write { try $0.update(later) }
        #expect(try service.list(limit: 10, offset: 0, as: caller).isEmpty)
        let stored = try database.outsideQuery("SELECT deleted_at FROM collections WHERE id = '\(kept.id)'")
        #expect(stored == "\(deleted.deletedAt!.secondsSince1970)")
    }

    @Test("a track exists exactly when it can be read: live and in the organization")
    func trackExistence() throws {
        let other = try admin.createOrganization(name: "Other")
        _ = try admin.deleteTrack(id: tracks[1].id)
        let org = caller.organizationID
        for (id, organizationID) in [(tracks[0].id, org), (tracks[1].id, org), (tracks[0].id, other.id), ("mtrack_000000000000", org)] {
            let (exists, read) = try store.read { (try $0.trackExists(id: id, organizationID: organizationID), try $0.track(id: id, organizationID: organizationID)) }
            #expect(exists == (read != nil), "\(id) in \(organizationID)")
        }
        #expect(try store.read { try $0.trackExists(id: tracks[0].id, organizationID: org) })
        #expect(try !store.read { try $0.trackExists(id: tracks[1].id, organizationID: org) })
    }

    @Test("removing a member closes the gap")
    func removeClosesGap() throws {
        let service = CollectionService(store: store)
        let collection = try service.create(CollectionDraft(name: "c"), as: caller)
        for track in tracks.prefix(5) { _ = try service.addTrack(track.id, to: collection.id, as: caller) }
        _ = try service.removeTrack(tracks[1].id, from: collection.id, as: caller)
        let members = try store.read { try $0.members(collectionID: collection.id, fromPosition: 0, limit: 100) }
        #expect(members.map(\.trackID) == [tracks[0], tracks[2], tracks[3], tracks[4]].map(\.id))
        #expect(members.map(\.position) == [0, 1, 2, 3])
    }

    @Test("every field survives the round trip, nulls and bytes included")
    func roundTrip() throws {
        let service = CollectionService(store: store)
        let draft = CollectionDraft(name: "Zoë \"quoted\" \\ ünïcode", description: "multi\nline", coverTrackID: tracks[0].id,
                                    coverImageURL: "https://example.com/c.png")
        let created = try service.create(draft, as: caller)
        #expect(try service.get(created.id, as: caller) == created)
        let bare = try service.create(CollectionDraft(name: "bare"), as: caller)
        #expect(try service.get(bare.id, as: caller) == bare)
        let track = try admin.createTracks([.init(title: "d", durationSeconds: 12.25, instrumental: true)],
                                           organizationID: caller.organizationID, ownerID: caller.userID)[0]
        #expect(try store.read { try $0.track(id: track.id, organizationID: caller.organizationID) } == track)
        let bytes: [UInt8] = Array(0...255)
        let record = IdempotencyRecord(organizationID: caller.organizationID, userID: caller.userID, key: "k\u{1}\"", requestHash: "h", status: 201, body: bytes,
                                       location: nil, etag: "\"1\"", createdAt: .init(secondsSince1970: 1_782_642_600))
        try store.write { try $0.keep(record) }
        #expect(try store.read { try $0.idempotencyRecord(organizationID: caller.organizationID, userID: caller.userID, key: "k\u{1}\"") } == record)
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

    @Test("48 threads writing at once: each gets its own result, a write that fails after a change leaves nothing, the rest land",
          .timeLimit(.minutes(1)))
    func concurrentWritesShareCommitsButNotOutcomes() throws {
        struct Boom: Error, Equatable { let id: String }
        let perThread = 20
        let wrong = Failures()
        runConcurrently(48) { thread in
            for round in 0..<perThread {
                let id = String(format: "org_%04x%08x", thread, round)
                let fails = (thread + round) % 4 == 0
                do {
                    let returned = try store.write { writer -> String in
                        try writer.insert(Organization(id: id, name: "w", createdAt: .init(secondsSince1970: 0)))
                        if fails { throw Boom(id: id) }
                        return id
                    }
                    if fails || returned != id { wrong.add(Boom(id: "\(id) returned \(returned)")) }
                } catch let boom as Boom {
                    if !fails || boom.id != id { wrong.add(Boom(id: "\(id) threw for \(boom.id)")) }
                } catch {
                    wrong.add(error)
                }
            }
        }
        #expect(wrong.all.isEmpty, "\(wrong.all)")
        let landed = try database.outsideQuery("SELECT count(*) FROM organizations WHERE name = 'w'")
        let failing = (0..<48).reduce(0) { sum, thread in sum + (0..<perThread).filter { (thread + $0) % 4 == 0 }.count }
        #expect(landed == String(48 * perThread - failing))
        #expect(try store.read { try $0.organization(id: String(format: "org_%04x%08x", 0, 0)) } == nil)
        #expect(try store.read { try $0.organization(id: String(format: "org_%04x%08x", 0, 1)) } != nil)
    }

    @Test("two store instances (two worker processes or hosts) see each other's writes")
    func twoInstancesShareTheData() throws {
        let other = try database.anotherStore()
        let service = CollectionService(store: store)
        let otherService = CollectionService(store: other)
        let collection = try service.create(CollectionDraft(name: "shared"), as: caller)
        _ = try otherService.addTrack(tracks[0].id, to: collection.id, as: caller)
        let (change, _) = try service.addTrack(tracks[0].id, to: collection.id, as: caller)
        #expect(change == .unchanged)
        #expect(try service.get(collection.id, as: caller).trackCount == 1)
    }

    @Test("concurrent adds from two instances: one member per track, dense positions, the count right")
    func concurrentAddsFromTwoInstances() throws {
        let services = [CollectionService(store: store), CollectionService(store: try database.anotherStore())]
        let collection = try services[0].create(CollectionDraft(name: "race"), as: caller)
        let failures = Failures()
        // 16 threads, each adding every track (so each track is raced by 16 adds).
        runConcurrently(16) { index in
            for track in tracks {
                do { _ = try services[index % 2].addTrack(track.id, to: collection.id, as: caller) } catch { failures.add(error) }
            }
        }
        #expect(failures.all.isEmpty, "\(failures.all)")
        let members = try store.read { try $0.members(collectionID: collection.id, fromPosition: 0, limit: 100) }
        #expect(members.count == 20)
        #expect(Set(members.map(\.trackID)) == Set(tracks.map(\.id)))
        #expect(members.map(\.position) == Array(0..<20))
        #expect(try services[1].get(collection.id, as: caller).trackCount == 20)
    }

    @Test("the 10,000 cap holds under concurrent adds")
    func capHoldsUnderConcurrency() throws {
        let many = try admin.createTracks((0..<CollectionRules.maxTracks + 12).map { .init(title: "M\($0)") },
                                          organizationID: caller.organizationID, ownerID: caller.userID)
        let service = CollectionService(store: store)
        let collection = try service.create(CollectionDraft(name: "full"), as: caller)
        let filled = CollectionRules.maxTracks - 4
        try store.write { writer in
            for (position, track) in many.prefix(filled).enumerated() {
                try writer.appendMember(collectionID: collection.id, trackID: track.id, position: position, addedAt: collection.createdAt)
            }
            var updated = collection
            updated.trackCount = filled
            try writer.update(updated)
        }
        let services = [service, CollectionService(store: try database.anotherStore())]
        let full = Failures()
        let others = Failures()
        let contenders = Array(many.suffix(16))
        runConcurrently(16) { index in
            do {
                _ = try services[index % 2].addTrack(contenders[index].id, to: collection.id, as: caller)
            } catch MusicError.collectionFull {
                full.add(MusicError.collectionFull(limit: 0))
            } catch {
                others.add(error)
            }
        }
        #expect(others.all.isEmpty, "\(others.all)")
        #expect(full.all.count == 12)
        #expect(try service.get(collection.id, as: caller).trackCount == CollectionRules.maxTracks)
        #expect(try database.outsideQuery("SELECT count(*) FROM collection_tracks WHERE collection_id = '\(collection.id)'") == "10000")
        #expect(try database.outsideQuery("SELECT count(DISTINCT position) FROM collection_tracks WHERE collection_id = '\(collection.id)'") == "10000")
    }

    @Test("a track import is all or none")
    func importIsAllOrNone() throws {
        let drafts: [AdminService.TrackDraft] = [.init(title: "ok"), .init(title: "")]
        #expect(throws: AdminService.AdminError.self) {
            _ = try admin.createTracks(drafts, organizationID: caller.organizationID, ownerID: caller.userID)
        }
        #expect(try database.outsideQuery("SELECT count(*) FROM tracks") == "20")
    }

    @Test("no raw API key is ever stored")
    func keysAreHashed() throws {
        let (_, raw) = try admin.createAPIKey(userID: caller.userID)
        let bytes = try database.rawContent()
        #expect(bytes.range(of: Data(raw.utf8)) == nil)
        #expect(bytes.range(of: Data(APIKey.hash(raw).utf8)) != nil)
    }
}

@Suite("The SQLite store's own settings")
struct SQLiteSettingsTests {
    @Test("the database is in WAL mode with synchronous=FULL, and passes the integrity check")
    func durabilitySettings() throws {
        let directory = NSTemporaryDirectory() + "music-sqlite-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: directory + "/music.sqlite")
        #expect(try store.pragma("journal_mode") == "wal")
        #expect(try store.integrityCheck() == "ok")
        #expect(try store.pragma("synchronous") == "2")
    }
}

/// Errors collected from several threads.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [String] = []
    func add(_ error: Error) { lock.withLock { errors.append(String(describing: error)) } }
    var all: [String] { lock.withLock { errors } }
}

/// Runs `body(0..<count)` on `count` threads at once and waits for all.
func runConcurrently(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        Thread.detachNewThread {
            body(index)
            group.leave()
        }
    }
    group.wait()
}

/// Hands out the given ids in turn (then repeats the last one).
private final class IDDraws: @unchecked Sendable {
    private var ids: [String]
    private let lock = NSLock()

    init(_ ids: [String]) { self.ids = ids }

    func next() -> String {
        lock.withLock { ids.count > 1 ? ids.removeFirst() : ids[0] }
    }
}
