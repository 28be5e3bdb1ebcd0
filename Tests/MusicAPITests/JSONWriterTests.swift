import MusicCore
@testable import MusicAPI
import Testing

/// `JSONWriter` keeps one comma flag for every level of nesting and writes
/// integers and timestamps in place: the text must stay what a per-level stack
/// of flags and `String(value)` gave, and parse back to what was written.
@Suite("The JSON writer")
struct JSONWriterTests {
    @Test("commas between members and elements at every depth, none after an opening or a key, empty containers")
    func nesting() {
        var json = JSONWriter()
        json.beginObject()
        json.key("a"); json.int(1)
        json.key("empty_object"); json.beginObject(); json.endObject()
        json.key("empty_array"); json.beginArray(); json.endArray()
        json.key("items")
        json.beginArray()
        json.beginObject(); json.key("x"); json.int(-7); json.key("y"); json.beginArray(); json.int(0); json.endArray(); json.endObject()
        json.beginObject(); json.endObject()
        json.beginArray(); json.beginArray(); json.endArray(); json.null(); json.endArray()
        json.string("s")
        json.endArray()
        json.key("map"); json.object(["b": "2", "a": "1"])
        json.key("after"); json.bool(false)
        json.endObject()
        let text = String(decoding: json.bytes, as: UTF8.self)
        #expect(text == #"{"a":1,"empty_object":{},"empty_array":[],"items":[{"x":-7,"y":[0]},{},[[],null],"s"],"#
            + #""map":{"a":"1","b":"2"},"after":false}"#)
        #expect(JSONValue.parse(json.bytes) != nil)
    }

    @Test("integers as String(value) gives them, from Int.min to Int.max")
    func integers() {
        for value in [0, 1, -1, 9, 10, -10, 99, 100, 12_345, -12_345, Int(Int32.max), Int.max, Int.min, Int.min + 1] {
            var json = JSONWriter()
            json.int(value)
            #expect(String(decoding: json.bytes, as: UTF8.self) == String(value))
        }
    }

    @Test("a timestamp is its iso8601 text as a JSON string; nil is null")
    func timestamps() {
        var json = JSONWriter()
        json.beginArray()
        json.timestamp(Timestamp(secondsSince1970: 1_782_642_600))
        json.timestamp(Timestamp?.none)
        json.timestamp(Timestamp(secondsSince1970: 0))
        json.endArray()
        #expect(String(decoding: json.bytes, as: UTF8.self) == #"["2026-06-28T10:30:00Z",null,"1970-01-01T00:00:00Z"]"#)
    }

    @Test("a copy of a writer is independent of the original, both ways; a buffer grows past its first capacity")
    func copies() {
        var original = JSONWriter(capacity: 1)
        original.beginArray()
        original.string("shared")
        var copy = original
        copy.int(1)
        original.int(2)
        copy.endArray()
        original.null()
        original.endArray()
        #expect(String(decoding: copy.bytes, as: UTF8.self) == #"["shared",1]"#)
        #expect(String(decoding: original.bytes, as: UTF8.self) == #"["shared",2,null]"#)
        var long = JSONWriter(capacity: 1)
        long.beginArray()
        for index in 0..<1_000 { long.string(String(repeating: "x", count: index % 40)); long.string("a\"b\u{1}") }
        long.endArray()
        #expect(JSONValue.parse(long.bytes) != nil)
        #expect(long.bytes.count > 20_000)
    }
}
