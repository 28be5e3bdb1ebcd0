import Foundation
import MusicSupport
import Testing

@Suite("JSON strings: the one escaping function of answers and log lines")
struct JSONStringTests {
    func encoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        bytes.appendJSONString(text)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// What a JSON parser reads back from the encoding of `text`.
    func decoded(_ text: String) throws -> String {
        let data = Data(("[" + encoded(text) + "]").utf8)
        let array = try #require(try JSONSerialization.jsonObject(with: data) as? [String])
        return try #require(array.first)
    }

    @Test("quotes, backslashes and the short escapes")
    func shortEscapes() {
        #expect(encoded(#"say "hi""#) == #""say \"hi\"""#)
        #expect(encoded(#"C:\music\"#) == #""C:\\music\\""#)
        #expect(encoded("a\nb\rc\td") == #""a\nb\rc\td""#)
        #expect(encoded("") == #""""#)
        #expect(encoded("/v1/music/{organization_id}") == #""/v1/music/{organization_id}""#)
    }

    @Test("every control character is escaped, and each reads back as itself")
    func controlCharacters() throws {
        for scalar in 0..<0x20 {
            let text = "x" + String(UnicodeScalar(UInt8(scalar))) + "y"
            let json = encoded(text)
            #expect(!json.utf8.contains { $0 < 0x20 }, "U+\(String(scalar, radix: 16)): \(json)")
            #expect(try decoded(text) == text)
        }
        #expect(encoded("\u{0}") == #""\u0000""#)
        #expect(encoded("\u{1b}[31m") == #""\u001b[31m""#)
        #expect(encoded("\u{1f}") == #""\u001f""#)
        // A line break can never split a log line: one JSON object per line.
        #expect(!encoded("one\ntwo\r\nthree").contains("\n"))
    }

    @Test("non-ASCII is copied as UTF-8 and reads back as itself")
    func nonASCII() throws {
        for text in ["é", "Ünïcödé ♫", "\u{1F3B5} tune", "\u{2028}\u{2029}", "日本語", "\u{7F}", "mixed \"é\" \\ \u{1}"] {
            #expect(try decoded(text) == text, "\(text)")
        }
        #expect(encoded("é♫") == "\"é♫\"")
    }

    @Test("jsonString is appendJSONString's bytes")
    func madeOnce() {
        var bytes: [UInt8] = []
        bytes.appendJSONString("/v1/music/{token} \"x\"")
        #expect([UInt8].jsonString("/v1/music/{token} \"x\"") == bytes)
    }
}
