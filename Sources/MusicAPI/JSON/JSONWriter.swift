import MusicCore
import MusicSupport

/// Writes JSON straight into a byte buffer: the API's responses are small,
/// flat objects, and a writer avoids building an intermediate tree per request.
///
/// The bytes go into a buffer of the writer's own: each value is one capacity
/// check and plain stores. Appended to a `[UInt8]`, every byte paid the array's
/// uniqueness and capacity checks and every slice a call: a page of 50 members
/// spent a third of its instructions writing its JSON (docs/performance.md).
/// A copy of a writer stays independent: a buffer shared with a copy is copied
/// before it is written.
struct JSONWriter {
    private final class Storage {
        var base: UnsafeMutablePointer<UInt8>
        var count = 0
        var capacity: Int

        init(capacity: Int) {
            self.capacity = Swift.max(capacity, 16)
            base = .allocate(capacity: self.capacity)
        }

        init(copying other: Storage) {
            capacity = other.capacity
            count = other.count
            base = .allocate(capacity: capacity)
            base.initialize(from: other.base, count: count)
        }

        deinit { base.deallocate() }
    }

    private var storage: Storage
    /// Whether a value was written at this level since the last `{`, `[` or key.
    /// One flag serves every level: a closed object or array is itself a value
    /// of the level around it, so after it a comma is always due there.
    private var needsComma = false

    init(capacity: Int = 256) {
        storage = Storage(capacity: capacity)
    }

    /// The text written so far.
    var bytes: [UInt8] { Array(UnsafeBufferPointer(start: storage.base, count: storage.count)) }

    mutating func beginObject() {
        value(1).pointee = UInt8(ascii: "{")
        storage.count += 1
        needsComma = false
    }

    mutating func endObject() {
        reserve(1).pointee = UInt8(ascii: "}")
        storage.count += 1
        needsComma = true
    }

    mutating func beginArray() {
        value(1).pointee = UInt8(ascii: "[")
        storage.count += 1
        needsComma = false
    }

    mutating func endArray() {
        reserve(1).pointee = UInt8(ascii: "]")
        storage.count += 1
        needsComma = true
    }

    /// Writes `"name":`; the next value written belongs to it. Keys are written
    /// in the source and need no escape: copied as they are.
    mutating func key(_ name: StaticString) {
        let length = name.utf8CodeUnitCount
        let at = value(length + 3)
        at[0] = UInt8(ascii: "\"")
        (at + 1).update(from: name.utf8Start, count: length)
        at[length + 1] = UInt8(ascii: "\"")
        at[length + 2] = UInt8(ascii: ":")
        storage.count += length + 3
        needsComma = false
    }

    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { writeString($0) }
    }

    mutating func string(_ value: String?) {
        if let value { string(value) } else { null() }
    }

    mutating func int(_ value: Int) {
        var magnitude = UInt64(value.magnitude)
        var digits = 1
        var bound: UInt64 = 10
        while digits < 20, magnitude >= bound {
            digits += 1
            bound &*= 10
        }
        let length = digits + (value < 0 ? 1 : 0)
        let at = self.value(length)
        if value < 0 { at.pointee = UInt8(ascii: "-") }
        var index = length
        repeat {
            index -= 1
            at[index] = UInt8(truncatingIfNeeded: 48 + magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        storage.count += length
    }

    mutating func double(_ value: Double?) {
        guard let value, value.isFinite else { return null() }
        raw(String(value))
    }

    mutating func bool(_ value: Bool) {
        raw(value ? "true" : "false")
    }

    mutating func null() {
        raw("null")
    }

    /// A timestamp as its ISO 8601 string (`Timestamp.iso8601`), written in place.
    mutating func timestamp(_ value: Timestamp) {
        let at = self.value(UTCTimestamp.length + 2)
        at[0] = UInt8(ascii: "\"")
        UTCTimestamp.write(value.secondsSince1970, into: UnsafeMutableBufferPointer(start: at + 1, count: UTCTimestamp.length))
        at[UTCTimestamp.length + 1] = UInt8(ascii: "\"")
        storage.count += UTCTimestamp.length + 2
    }

    mutating func timestamp(_ value: Timestamp?) {
        if let value { timestamp(value) } else { null() }
    }

    /// `"name": "value"` pairs of a string dictionary, keys sorted.
    mutating func object(_ pairs: [String: String]) {
        beginObject()
        for name in pairs.keys.sorted() {
            string(name)
            reserve(1).pointee = UInt8(ascii: ":")
            storage.count += 1
            needsComma = false
            string(pairs[name]!)
        }
        endObject()
    }

    /// Room for `extra` more bytes in a buffer of this writer's own: where they go.
    @inline(__always)
    private mutating func reserve(_ extra: Int) -> UnsafeMutablePointer<UInt8> {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(copying: storage) }
        if storage.count + extra > storage.capacity { grow(toHold: extra) }
        return storage.base + storage.count
    }

    private mutating func grow(toHold extra: Int) {
        let capacity = Swift.max(storage.capacity * 2, storage.count + extra)
        let base = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        base.initialize(from: storage.base, count: storage.count)
        storage.base.deallocate()
        storage.base = base
        storage.capacity = capacity
    }

    /// Where a value of `length` bytes goes, after the comma due before it
    /// (written and counted here); the caller writes the value and counts it.
    @inline(__always)
    private mutating func value(_ length: Int) -> UnsafeMutablePointer<UInt8> {
        let at = reserve(length + 1)
        defer { needsComma = true }
        guard needsComma else { return at }
        at.pointee = UInt8(ascii: ",")
        storage.count += 1
        return at + 1
    }

    /// A value that is its own text (a number, `true`, `null`): copied as it is.
    private mutating func raw(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            let at = value(bytes.count)
            if let source = bytes.baseAddress { at.update(from: source, count: bytes.count) }
            storage.count += bytes.count
        }
    }

    /// A string value: in quotes, escaped as `appendJSONString` escapes (most
    /// strings need no escape, and are copied whole).
    private mutating func writeString(_ utf8: UnsafeBufferPointer<UInt8>) {
        guard JSONEscaping.firstEscape(utf8) == utf8.count else {
            var escaped: [UInt8] = []
            escaped.appendJSONString(utf8: utf8)
            return escaped.withUnsafeBufferPointer { escaped in
                let at = value(escaped.count)
                at.update(from: escaped.baseAddress!, count: escaped.count)
                storage.count += escaped.count
            }
        }
        let at = value(utf8.count + 2)
        at[0] = UInt8(ascii: "\"")
        if let source = utf8.baseAddress { (at + 1).update(from: source, count: utf8.count) }
        at[utf8.count + 1] = UInt8(ascii: "\"")
        storage.count += utf8.count + 2
    }
}
