import MusicCore
import MusicSupport

/// Writes JSON straight into a byte buffer: the API's responses are small,
/// flat objects, and a writer avoids building an intermediate tree per request.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    /// Whether a value was written at this level since the last `{`, `[` or key.
    /// One flag serves every level: a closed object or array is itself a value
    /// of the level around it, so after it a comma is always due there.
    private var needsComma = false

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// Writes `"name":`; the next value written belongs to it. Keys are written
    /// in the source and need no escape: copied as they are.
    mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        valueFollows()
    }

    /// After a key: the colon, and no comma before its value.
    private mutating func valueFollows() {
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func string(_ value: String) {
        separate()
        writeString(value)
    }

    mutating func string(_ value: String?) {
        if let value { string(value) } else { null() }
    }

    mutating func int(_ value: Int) {
        separate()
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        bytes.appendDecimal(UInt64(value.magnitude))
    }

    /// A timestamp as its ISO 8601 string (`Timestamp.iso8601`), written in place.
    mutating func timestamp(_ value: Timestamp) {
        separate()
        UTCTimestamp.appendJSON(value.secondsSince1970, to: &bytes)
    }

    mutating func timestamp(_ value: Timestamp?) {
        if let value { timestamp(value) } else { null() }
    }

    mutating func double(_ value: Double?) {
        guard let value, value.isFinite else { return null() }
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }

    /// `"name": "value"` pairs of a string dictionary, keys sorted.
    mutating func object(_ pairs: [String: String]) {
        beginObject()
        for name in pairs.keys.sorted() {
            separate()
            writeString(name)
            valueFollows()
            string(pairs[name]!)
        }
        endObject()
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
    }

    private mutating func writeString(_ value: String) {
        bytes.appendJSONString(value)
    }
}
