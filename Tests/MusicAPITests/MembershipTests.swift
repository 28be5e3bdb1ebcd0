import Foundation
import MusicCore
import Synchronization
import Testing

@Suite("Members: add, remove, list, reorder")
struct MembershipTests {
    let app: TestApp
    init() throws { app = try TestApp() }

    @Test("add appends the track and answers the acknowledgement of the API doc")
    func addAppends() {
        let id = app.createCollection()
        let response = app.addTrack(app.tracksA[0], to: id)
        #expect(response.status == 200)
        #expect(response.bodyText == #"{"success":true,"id":"\#(app.tracksA[0])","detail":"Track added to collection."}"#)
        _ = app.addTrack(app.tracksA[1], to: id)
        #expect(app.memberIDs(id) == [app.tracksA[0], app.tracksA[1]])
        let collection = app.request(.get, app.collectionsPath() + "/\(id)", key: app.aliceKey)
        #expect(collection["track_count"] as? Int == 2)
    }

    @Test("adding a member again changes nothing, not even updated_at or the ETag")
    func addIsIdempotent() {
        let id = app.createCollection()
        _ = app.addTrack(app.tracksA[0], to: id)
        let before = app.request(.get, app.collectionsPath() + "/\(id)", key: app.aliceKey)
        app.clock.advance(by: 60)
        let again = app.addTrack(app.tracksA[0], to: id)
        #expect(again.status == 200)
        #expect(again["detail"] as? String == "Track already in collection.")
        let after = app.request(.get, app.collectionsPath() + "/\(id)", key: app.aliceKey)
        #expect(after["updated_at"] as? String == before["updated_at"] as? String)
        #expect(after.header("ETag") == before.header("ETag"))
        #expect(after["track_count"] as? Int == 1)
    }

    @Test("a change moves updated_at and the ETag")
    func changesMoveUpdatedAt() {
        let id = app.createCollection()
        let path = app.collectionsPath() + "/\(id)"
        var last = app.request(.get, path, key: app.aliceKey)
        let changes: [() -> TestResponse] = [
            { app.addTrack(app.tracksA[0], to: id) },
            { app.addTrack(app.tracksA[1], to: id) },
            { app.request(.patch, path + "/order", key: app.aliceKey, json: #"{"ordered_track_ids": ["\#(app.tracksA[1])"]}"#) },
            { app.request(.delete, path + "/tracks/\(app.tracksA[0])", key: app.aliceKey) },
        ]
        for change in changes {
            app.clock.advance(by: 10)
            #expect(change().status == 200)
            let now = app.request(.get, path, key: app.aliceKey)
            #expect(now["updated_at"] as? String != last["updated_at"] as? String)
            #expect(now.header("ETag") != last.header("ETag"))
            last = now
        }
    }

    @Test("a foreign, unknown or deleted track answers 404; a missing track_id answers 422")
    func addRejectsForeignTracks() {
        let id = app.createCollection()
        let foreign = app.addTrack(app.trackB, to: id)
        #expect(foreign.status == 404)
        #expect(foreign.error["system_message"] as? String == "Collection not owned by caller or track not found")
        #expect((foreign.error["details"] as? [String: String]) == ["collection_id": id, "track_id": app.trackB])
        #expect(app.addTrack("mtrack_000000000000", to: id).status == 404)
        #expect(app.addTrack(app.tracksA[0], to: "mcoll_000000000000").status == 404)
        let path = app.collectionsPath() + "/\(id)/tracks"
        #expect(app.request(.post, path, key: app.aliceKey, json: "{}").errorField == "track_id")
        #expect(app.request(.post, path, key: app.aliceKey, json: #"{"track_id": 7}"#).errorField == "track_id")
        #expect(app.request(.post, path, key: app.aliceKey, json: #"{"track_id": ""}"#).errorField == "track_id")
    }

    @Test("remove closes the gap: positions stay dense")
    func removeKeepsPositionsDense() {
        let id = app.createCollection()
        for track in app.tracksA.prefix(5) { _ = app.addTrack(track, to: id) }
        let removed = app.request(.delete, app.collectionsPath() + "/\(id)/tracks/\(app.tracksA[1])", key: app.aliceKey)
        #expect(removed.bodyText == #"{"success":true,"id":"\#(app.tracksA[1])","detail":"Track removed from collection."}"#)
        _ = app.request(.delete, app.collectionsPath() + "/\(id)/tracks/\(app.tracksA[4])", key: app.aliceKey)
        _ = app.request(.delete, app.collectionsPath() + "/\(id)/tracks/\(app.tracksA[0])", key: app.aliceKey)
        #expect(app.memberIDs(id) == [app.tracksA[2], app.tracksA[3]])
        _ = app.addTrack(app.tracksA[0], to: id)
        #expect(app.memberIDs(id) == [app.tracksA[2], app.tracksA[3], app.tracksA[0]])
        #expect(app.request(.get, app.collectionsPath() + "/\(id)", key: app.aliceKey)["track_count"] as? Int == 3)
    }

    @Test("removing a non-member answers 200 'Track not in collection.' and changes nothing")
    func removeNonMember() {
        let id = app.createCollection()
        let before = app.request(.get, app.collectionsPath() + "/\(id)", key: app.aliceKey)
        app.clock.advance(by: 5)
        let response = app.request(.delete, app.collectionsPath() + "/\(id)/tracks/mtrack_000000000000", key: app.aliceKey)
        #expect(response.status == 200)
        #expect(response["detail"] as? String == "Track not in collection.")
        #expect(app.request(.get, app.collectionsPath() + "/\(id)", key: app.aliceKey).header("ETag") == before.header("ETag"))
    }

    @Test("list tracks pages by position with limit 1-500")
    func listTracksPages() {
        let id = app.createCollection()
        for track in app.tracksA { _ = app.addTrack(track, to: id) }
        let page = app.request(.get, app.collectionsPath() + "/\(id)/tracks?limit=2&offset=3", key: app.aliceKey)
        #expect(page.status == 200)
        #expect(page["collection_id"] as? String == id)
        #expect(page.items.compactMap { $0["track_id"] as? String } == [app.tracksA[3], app.tracksA[4]])
        #expect(page.items.compactMap { $0["position"] as? Int } == [3, 4])
        #expect(page.items.first?["added_at"] as? String == "2026-06-28T10:30:00Z")
        #expect(page["limit"] as? Int == 2)
        #expect(page["offset"] as? Int == 3)
        let defaults = app.request(.get, app.collectionsPath() + "/\(id)/tracks", key: app.aliceKey)
        #expect(defaults["limit"] as? Int == 200)
        #expect(defaults.items.count == 6)
        #expect(app.request(.get, app.collectionsPath() + "/\(id)/tracks?limit=500", key: app.aliceKey).status == 200)
        #expect(app.request(.get, app.collectionsPath() + "/\(id)/tracks?limit=501", key: app.aliceKey).errorField == "limit")
        #expect(app.request(.get, app.collectionsPath() + "/\(id)/tracks?offset=-2", key: app.aliceKey).errorField == "offset")
        #expect(app.request(.get, app.collectionsPath() + "/\(id)/tracks?offset=100", key: app.aliceKey).items.isEmpty)
    }

    @Test("16 threads adding the same track at once leave exactly one member")
    func concurrentAddsLeaveOneMember() {
        let id = app.createCollection()
        let app = self.app
        let details = Mutex<[String]>([])
        let group = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        for _ in 0..<16 {
            group.enter()
            Thread.detachNewThread {
                start.wait()
                let detail = app.addTrack(app.tracksA[2], to: id)["detail"] as? String ?? "error"
                details.withLock { $0.append(detail) }
                group.leave()
            }
        }
        for _ in 0..<16 { start.signal() }
        group.wait()
        let all = details.withLock { $0 }
        #expect(all.filter { $0 == "Track added to collection." }.count == 1)
        #expect(all.filter { $0 == "Track already in collection." }.count == 15)
        #expect(app.memberIDs(id) == [app.tracksA[2]])
    }

    @Test("adding beyond 10,000 tracks answers 409 COLLECTION_FULL")
    func collectionFull() throws {
        let id = app.createCollection()
        let many = try app.admin.createTracks((0...10_000).map { .init(title: "t\($0)") }, organizationID: app.orgA, ownerID: app.alice)
        try app.store.write { writer in
            for (position, track) in many.prefix(10_000).enumerated() {
                try writer.appendMember(collectionID: id, trackID: track.id, position: position, addedAt: app.clock.now())
            }
            var collection = try #require(try writer.collection(id: id, organizationID: app.orgA, ownerID: app.alice))
            collection.trackCount = 10_000
            try writer.update(collection)
        }
        let full = app.addTrack(many[10_000].id, to: id)
        #expect(full.status == 409)
        #expect(full.errorCode == "COLLECTION_FULL")
        #expect(app.addTrack(many[0].id, to: id)["detail"] as? String == "Track already in collection.")
        let deep = app.request(.get, app.collectionsPath() + "/\(id)/tracks?limit=2&offset=9998", key: app.aliceKey)
        #expect(deep.items.compactMap { $0["position"] as? Int } == [9998, 9999])
        #expect(deep.items.compactMap { $0["track_id"] as? String } == [many[9998].id, many[9999].id])
    }
}

@Suite("Reorder")
struct ReorderTests {
    let app: TestApp
    let collection: String
    let path: String

    init() throws {
        app = try TestApp()
        collection = app.createCollection()
        for track in app.tracksA.prefix(5) { _ = app.addTrack(track, to: collection) }
        path = app.collectionsPath() + "/\(collection)/order"
    }

    func reorder(_ ids: [String], ifMatch: String? = nil) -> TestResponse {
        let body = String(decoding: try! JSONSerialization.data(withJSONObject: ["ordered_track_ids": ids]), as: UTF8.self)
        return app.request(.patch, path, key: app.aliceKey, json: body, headers: ifMatch.map { ["If-Match": $0] } ?? [:])
    }

    @Test("listed members come first in the order given; the others follow in their previous order")
    func partialList() {
        let t = app.tracksA
        let response = reorder([t[3], t[1]])
        #expect(response.status == 200)
        #expect(response.bodyText == #"{"success":true,"id":"\#(collection)","detail":"Collection reordered."}"#)
        #expect(app.memberIDs(collection) == [t[3], t[1], t[0], t[2], t[4]])
    }

    @Test("ids that are not members are ignored")
    func unknownIDsIgnored() {
        let t = app.tracksA
        #expect(reorder(["mtrack_000000000000", t[4], t[5], app.trackB, t[0]]).status == 200)
        #expect(app.memberIDs(collection) == [t[4], t[0], t[1], t[2], t[3]])
    }

    @Test("a full reverse order is applied")
    func fullReverse() {
        let reversed = Array(app.tracksA.prefix(5).reversed())
        #expect(reorder(reversed).status == 200)
        #expect(app.memberIDs(collection) == reversed)
    }

    @Test("duplicates, non-strings, a missing list and more than 10,000 ids answer 422")
    func invalidLists() {
        #expect(reorder([app.tracksA[0], app.tracksA[0]]).errorField == "ordered_track_ids")
        for body in [#"{"ordered_track_ids": [1]}"#, #"{"ordered_track_ids": "x"}"#, #"{}"#, #"{"ordered_track_ids": null}"#] {
            let response = app.request(.patch, path, key: app.aliceKey, json: body)
            #expect(response.status == 422, "\(body)")
            #expect(response.errorField == "ordered_track_ids")
        }
        let tooMany = (0...10_000).map { String(format: "mtrack_%012x", $0) }
        #expect(reorder(tooMany).errorField == "ordered_track_ids")
        #expect(app.memberIDs(collection) == Array(app.tracksA.prefix(5)))
    }

    @Test("reorder honours If-Match")
    func ifMatch() {
        let etag = app.request(.get, app.collectionsPath() + "/\(collection)", key: app.aliceKey).header("ETag") ?? ""
        #expect(reorder([app.tracksA[4]], ifMatch: "\"stale\"").status == 412)
        #expect(reorder([app.tracksA[4]], ifMatch: etag).status == 200)
        #expect(reorder([app.tracksA[3]], ifMatch: etag).status == 412)
    }

    @Test("the same order again changes nothing")
    func sameOrderIsNoOp() {
        let before = app.request(.get, app.collectionsPath() + "/\(collection)", key: app.aliceKey)
        app.clock.advance(by: 30)
        #expect(reorder(Array(app.tracksA.prefix(2))).status == 200)
        let after = app.request(.get, app.collectionsPath() + "/\(collection)", key: app.aliceKey)
        #expect(after.header("ETag") == before.header("ETag"))
    }
}
