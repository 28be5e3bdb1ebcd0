/// One track's place in a collection.
public struct CollectionMember: Equatable, Sendable {
    public var trackID: String
    public var position: Int
    public var addedAt: Timestamp

    public init(trackID: String, position: Int, addedAt: Timestamp) {
        self.trackID = trackID
        self.position = position
        self.addedAt = addedAt
    }
}

/// A page of a collection's members, position ascending, kept as one buffer of
/// track-id text and one array of the rest: two allocations a page, where an
/// array of `CollectionMember` made a String a member (a track id is 19 bytes,
/// past Swift's 15-byte small strings) and freed it again once the page was
/// written. On a page of 50 read past the read cache, those Strings were about
/// a sixth of the request's instructions (docs/performance.md, "Reads that miss
/// the read cache"). Its elements are `CollectionMember`s, made on access; the
/// API writes the text in place (`withTrackIDUTF8`).
public struct MemberPage: RandomAccessCollection, Equatable, Sendable {
    @usableFromInline
    struct Entry: Equatable, Sendable {
        /// Where this member's track id ends in `text` (it starts where the previous one ends).
        @usableFromInline var textEnd: Int
        @usableFromInline var position: Int
        @usableFromInline var addedAt: Int64

        @inlinable init(textEnd: Int, position: Int, addedAt: Int64) {
            self.textEnd = textEnd
            self.position = position
            self.addedAt = addedAt
        }
    }

    @usableFromInline var text: [UInt8] = []
    @usableFromInline var entries: [Entry] = []

    public init() {}

    public init(_ members: some Sequence<CollectionMember>) {
        for member in members {
            var id = member.trackID
            id.withUTF8 { append(trackIDUTF8: $0, position: member.position, addedAt: member.addedAt) }
        }
    }

    /// Room for `count` members (track ids are 19 bytes: 24 each leaves room).
    public mutating func reserveCapacity(_ count: Int) {
        entries.reserveCapacity(count)
        text.reserveCapacity(count * 24)
    }

    @inlinable
    public mutating func append(trackIDUTF8 id: UnsafeBufferPointer<UInt8>, position: Int, addedAt: Timestamp) {
        text.append(contentsOf: id)
        entries.append(Entry(textEnd: text.count, position: position, addedAt: addedAt.secondsSince1970))
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { entries.count }

    public subscript(index: Int) -> CollectionMember {
        CollectionMember(trackID: withTrackIDUTF8(at: index) { String(decoding: $0, as: UTF8.self) },
                         position: entries[index].position, addedAt: addedAt(at: index))
    }

    /// The member's track id as UTF-8, without making a String of it.
    @inlinable
    public func withTrackIDUTF8<Result>(at index: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        let start = index == 0 ? 0 : entries[index - 1].textEnd
        let end = entries[index].textEnd
        return try text.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[start..<end])) }
    }

    @inlinable public func position(at index: Int) -> Int { entries[index].position }
    @inlinable public func addedAt(at index: Int) -> Timestamp { Timestamp(secondsSince1970: entries[index].addedAt) }
}
