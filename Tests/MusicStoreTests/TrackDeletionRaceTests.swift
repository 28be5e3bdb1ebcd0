import Foundation
import MusicCore
import StoreTestSupport
import Synchronization
import Testing

/// Adding a track to collections while `track delete` removes it: whichever
/// commits first, no collection may end up holding the deleted track, and every
/// count matches the members. On PostgreSQL the add and the delete run at once
/// (several pooled connections); SQLite's single writer runs them in turn.
@Suite("Add-track racing track deletion")
struct TrackDeletionRaceTests {
    @Test("60 rounds of 6 adds racing one delete leave no deleted track in a collection and every count right")
    func addRacingDelete() throws {
        let database = try TestDatabase()
        let store = database.store
        let admin = AdminService(store: store)
        let organization = try admin.createOrganization(name: "Race")
        let user = try admin.createUser(email: "race@o.test", organizationID: organization.id, capabilities: [.useMusicGeneration])
        let caller = Caller(userID: user.id, organizationID: organization.id)
        let service = CollectionService(store: store)
        let collections = try (0..<6).map { try service.create(CollectionDraft(name: "c\($0)"), as: caller).id }
        var random = SeededGenerator(state: 16_2026)
        var problems: [String] = []
        for round in 0..<60 {
            let track = try admin.createTracks([.init(title: "r\(round)")], organizationID: organization.id, ownerID: user.id)[0]
            let delays = (0...collections.count).map { _ in UInt32.random(in: 0...400, using: &random) }
            let start = DispatchSemaphore(value: 0)
            let group = DispatchGroup()
            for (index, collection) in collections.enumerated() {
                group.enter()
                Thread.detachNewThread {
                    defer { group.leave() }
                    start.wait()
                    usleep(delays[index])
                    _ = try? service.addTrack(track.id, to: collection, as: caller)
                }
            }
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                start.wait()
                usleep(delays[collections.count])
                _ = try? admin.deleteTrack(id: track.id)
            }
            for _ in 0...collections.count { start.signal() }
            #expect(group.wait(timeout: .now() + 60) == .success)
            // The delete may have lost to nothing: it always runs, so the track is deleted now.
            try store.read { reader in
                #expect(try reader.track(id: track.id, organizationID: organization.id) == nil)
                for id in collections {
                    let members = try reader.memberTrackIDs(collectionID: id)
                    let count = try reader.anyCollection(id: id)?.trackCount
                    if members.contains(track.id) { problems.append("round \(round): \(id) holds the deleted track") }
                    if count != members.count { problems.append("round \(round): \(id) counts \(count ?? -1), holds \(members.count)") }
                }
            }
        }
        #expect(problems.isEmpty, "\(problems.count) problems, the first: \(problems.prefix(3))")
    }
}
