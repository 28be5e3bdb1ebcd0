import MusicCore
import Testing

/// `MemberPage` keeps every track id of a page in one buffer: each member must
/// read back exactly its own id, whatever the lengths around it.
@Suite("Member pages")
struct MemberPageTests {
    static let members = [
        CollectionMember(trackID: "mtrack_8d2e1f6a3c9b", position: 0, addedAt: Timestamp(secondsSince1970: 1_782_642_600)),
        CollectionMember(trackID: "t", position: 1, addedAt: Timestamp(secondsSince1970: 0)),
        CollectionMember(trackID: "", position: 2, addedAt: Timestamp(secondsSince1970: 0)),
        CollectionMember(trackID: "ünïcødé ♫ \u{1F3B5}", position: 7, addedAt: Timestamp(secondsSince1970: -1)),
        CollectionMember(trackID: String(repeating: "long-", count: 60), position: 8, addedAt: Timestamp(secondsSince1970: 5)),
        CollectionMember(trackID: "mtrack_000000000001", position: 9, addedAt: Timestamp(secondsSince1970: 6)),
    ]

    @Test("members read back as they were appended, as elements and as UTF-8 in place")
    func roundTrip() {
        var page = MemberPage()
        page.reserveCapacity(2)  // fewer than appended: the buffers grow
        for member in Self.members {
            var id = member.trackID
            id.withUTF8 { page.append(trackIDUTF8: $0, position: member.position, addedAt: member.addedAt) }
        }
        #expect(Array(page) == Self.members)
        #expect(page.count == Self.members.count)
        for (index, member) in Self.members.enumerated() {
            #expect(page.withTrackIDUTF8(at: index) { Array($0) } == Array(member.trackID.utf8))
            #expect(page.position(at: index) == member.position)
            #expect(page.addedAt(at: index) == member.addedAt)
        }
        #expect(MemberPage(Self.members) == page)
        #expect(MemberPage(Self.members.dropLast()) != page)
        #expect(MemberPage().isEmpty && Array(MemberPage()) == [])
    }
}
