import MusicCore
import Testing

@Suite("Field rules, keys, ids and timestamps")
struct RulesTests {
    @Test("names of 1 to 512 code points pass; 0 and 513 fail")
    func nameBounds() {
        #expect(throws: Never.self) { try CollectionRules.checkName("a") }
        #expect(throws: Never.self) { try CollectionRules.checkName(String(repeating: "ß", count: 512)) }
        #expect(throws: MusicError.self) { try CollectionRules.checkName("") }
        #expect(throws: MusicError.self) { try CollectionRules.checkName(String(repeating: "x", count: 513)) }
        // One grapheme, two code points: counted as two.
        #expect(throws: MusicError.self) { try CollectionRules.checkName(String(repeating: "e\u{301}", count: 257)) }
    }

    @Test("a generated key is well formed, hashes to 64 hex digits and is never its own hash")
    func apiKeys() {
        let key = APIKey.generate()
        #expect(APIKey.isWellFormed(key))
        #expect(key.count == 43)
        let hash = APIKey.hash(key)
        #expect(hash.count == 64)
        #expect(hash != key)
        #expect(APIKey.hash(key) == hash)
        #expect(APIKey.generate() != key)
        #expect(!APIKey.isWellFormed("ak_" + String(repeating: "a", count: 39)))
        #expect(!APIKey.isWellFormed("ak_" + String(repeating: "é", count: 40)))
        #expect(APIKey.constantTimeEquals(hash, hash))
        #expect(!APIKey.constantTimeEquals(hash, APIKey.hash("other")))
    }

    @Test("a presented key gets its own hash, whatever key the thread hashed before")
    func presentedKeyHashes() {
        let first = APIKey.generate()
        var second = Array(first.utf8)
        second[42] = second[42] == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")
        let neighbour = String(decoding: second, as: UTF8.self)
        for key in [first, first, neighbour, first, neighbour, neighbour, APIKey.generate(), first] {
            #expect(PresentedKey(key).hash == APIKey.hash(key))
        }
        #expect(PresentedKey("ak_short").hash == nil)
        #expect(PresentedKey(nil).hash == nil)
        #expect(PresentedKey(first).hash == APIKey.hash(first))
    }

    @Test("SHA-256 of a known input matches the standard vector")
    func hashVector() {
        #expect(APIKey.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("ids are the prefix and 12 lowercase hex digits")
    func identifiers() {
        let id = Identifier.make(Identifier.collection)
        #expect(Identifier.isWellFormed(id, prefix: "mcoll_"))
        #expect(!Identifier.isWellFormed("mcoll_ABCDEF123456", prefix: "mcoll_"))
        #expect(!Identifier.isWellFormed("mcoll_12345", prefix: "mcoll_"))
    }

    @Test("ordered ids lead with the clock's milliseconds modulo 2^20 and end in 28 random bits")
    func orderedIdentifiers() {
        let base: UInt64 = 1_795_000_000_000
        let first = Identifier.makeOrdered(Identifier.collection, milliseconds: base)
        let sameMillisecond = Identifier.makeOrdered(Identifier.collection, milliseconds: base)
        let later = Identifier.makeOrdered(Identifier.collection, milliseconds: base + 3)
        for id in [first, sameMillisecond, later] { #expect(Identifier.isWellFormed(id, prefix: "mcoll_")) }
        let clockDigits = String(base & 0xF_FFFF, radix: 16)
        #expect(first.dropFirst(6).prefix(5) == String(repeating: "0", count: 5 - clockDigits.count) + clockDigits)
        #expect(first.prefix(11) == sameMillisecond.prefix(11))
        #expect(first < later && sameMillisecond < later)
        // 2^20 ms later the clock digits come round again.
        #expect(Identifier.makeOrdered(Identifier.collection, milliseconds: base + 0x10_0000).prefix(11) == first.prefix(11))
        // The random part differs between draws (the odds of a repeat in 16 draws are below 1 in 2^20).
        let draws = Set((0..<16).map { _ in Identifier.makeOrdered(Identifier.collection, milliseconds: base) })
        #expect(draws.count == 16)
    }

    @Test("timestamps print as ISO 8601 UTC with a Z, to the second")
    func timestamps() {
        #expect(Timestamp(secondsSince1970: 1_782_642_600).iso8601 == "2026-06-28T10:30:00Z")
        #expect(Timestamp(secondsSince1970: 0).iso8601 == "1970-01-01T00:00:00Z")
    }

    @Test("If-Match parses lists, star and weak tags")
    func ifMatch() {
        let collection = MusicCollection(id: "mcoll_000000000001", organizationID: "o", ownerID: "u", name: "n", version: 3,
                                    createdAt: .init(secondsSince1970: 0), updatedAt: .init(secondsSince1970: 0))
        #expect(IfMatch(headerValue: nil) == nil)
        #expect(IfMatch(headerValue: "*")!.isSatisfied(by: collection))
        #expect(IfMatch(headerValue: " \"a\" , \(collection.etag) ")!.isSatisfied(by: collection))
        #expect(!IfMatch(headerValue: "W/\(collection.etag)")!.isSatisfied(by: collection))
        #expect(!IfMatch(headerValue: "\"mcoll_000000000001-2\"")!.isSatisfied(by: collection))
    }
}
