@testable import MusicAPI
import Testing

/// `RequestTarget.query` reads the query on its bytes; what it finds must be
/// what splitting and decoding every pair found.
@Suite("Query parameters")
struct RequestTargetQueryTests {
    func query(_ target: String, _ name: String) -> String? {
        RequestTarget(target).query(name)
    }

    @Test("the first pair of the name, its value percent-decoded with + as a space")
    func values() {
        #expect(query("/p?limit=50&offset=10", "offset") == "10")
        #expect(query("/p?limit=50&offset=10", "limit") == "50")
        #expect(query("/p?limit=1&limit=2", "limit") == "1")
        #expect(query("/p?a=x%20y+z", "a") == "x y z")
        #expect(query("/p?a=%C3%A9", "a") == "é")
        #expect(query("/p?a=caf\u{E9}", "a") == "caf\u{E9}")
        #expect(query("/p?a=b=c", "a") == "b=c")
        #expect(query("/p?a=", "a") == "")
        #expect(query("/p?a", "a") == "")
        #expect(query("/p?a=%zz", "a") == "\u{FFFD}")
        #expect(query("/p?&&a=1&", "a") == "1")
    }

    @Test("names match when they decode to the name; others, prefixes and absent names do not")
    func names() {
        #expect(query("/p?li%6Dit=5", "limit") == "5")
        #expect(query("/p?collection%5Fid=c", "collection_id") == "c")
        #expect(query("/p?my+name=v", "my name") == "v")
        #expect(query("/p?%zzlimit=1&limit=2", "limit") == "2")
        #expect(query("/p?limits=1&limi=2", "limit") == nil)
        #expect(query("/p?offset=1", "limit") == nil)
        #expect(query("/p", "limit") == nil)
        #expect(query("/p?", "limit") == nil)
        // Names compare as Strings do: canonically equivalent spellings match.
        #expect(query("/p?caf%C3%A9=1", "cafe\u{301}") == "1")
        #expect(query("/p?cafe%CC%81=2", "caf\u{E9}") == "2")
    }
}
