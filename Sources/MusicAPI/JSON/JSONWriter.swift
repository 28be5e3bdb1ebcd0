import MusicCore
import MusicSupport

/// Writes JSON straight into a byte buffer: the API's responses are small,
/// flat objects, and a writer avoids building an intermediate tree per request.
///
/// The bytes go into a buffer the writer owns: each value is one capacity
/// check and plain stores. Appended to a `[UInt8]`, every byte paid the array's
/// uniqueness and capacity checks and every slice a call: a page of 50 members
/// spent a third of its instructions writing its JSON (docs/performance.md).
/// The writer cannot be copied (`~Copyable`): no copy can share its buffer, so
/// no write checks whether the buffer is shared, and its position stays in a
/// register while a page is written (a writer kept in a class, checked for
/// uniqueness at every value, cost a page of 50 members about 6,000 more
/// instructions: docs/performance.md, "Reads that miss the read cache").
struct JSONWriter: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int
    /// Whether a value was written at this level since the last `{`, `[` or key.
    /// One flag serves every level: a closed object or array is itself a value
    /// of the level around it, so after it a comma is always due there.
    private var needsComma = false
    /// The date of the last timestamp written (a page's members were mostly added on few days).
    private var dateMemo = UTCTimestamp.DateMemo()

    init(capacity: Int = 256) {
        self.capacity = Swift.max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// The text written so far.
    var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    @inline(__always)
    mutating func beginObject() {
        value(1).pointee = UInt8(ascii: "{")
        count += 1
        needsComma = false
    }

    @inline(__always)
    mutating func endObject() {
        reserve(1).pointee = UInt8(ascii: "}")
        count += 1
        needsComma = true
    }

    mutating func beginArray() {
        value(1).pointee = UInt8(ascii: "[")
        count += 1
        needsComma = false
    }

    mutating func endArray() {
        reserve(1).pointee = UInt8(ascii: "]")
        count += 1
        needsComma = true
    }

    /// Writes `"name":`; the next value written belongs to it. Keys are written
    /// in the source and need no escape: copied as they are.
    @inline(__always)
    mutating func key(_ name: StaticString) {
        let length = name.utf8CodeUnitCount
        let at = value(length + 3)
        at[0] = UInt8(ascii: "\"")
        (at + 1).update(from: name.utf8Start, count: length)
        at[length + 1] = UInt8(ascii: "\"")
        at[length + 2] = UInt8(ascii: ":")
        count += length + 3
        needsComma = false
    }

    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { writeString($0) }
    }

    /// A string value given as bytes read from a database in place (a track id of
    /// a `MemberPage`). Written as they are when they are ASCII; otherwise made a
    /// String first, which repairs bytes that are not UTF-8 as reading them into a
    /// String did (SQLite keeps whatever bytes a TEXT column was given).
    @inline(__always)
    mutating func string(utf8: UnsafeBufferPointer<UInt8>) {
        guard JSONEscaping.isASCII(utf8) else { return string(String(decoding: utf8, as: UTF8.self)) }
        writeString(utf8)
    }

    mutating func string(_ value: String?) {
        if let value { string(value) } else { null() }
    }

    @inline(__always)
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
        count += length
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
    @inline(__always)
    mutating func timestamp(_ value: Timestamp) {
        let at = self.value(UTCTimestamp.length + 2)
        at[0] = UInt8(ascii: "\"")
        UTCTimestamp.write(value.secondsSince1970, into: UnsafeMutableBufferPointer(start: at + 1, count: UTCTimestamp.length), memo: &dateMemo)
        at[UTCTimestamp.length + 1] = UInt8(ascii: "\"")
        count += UTCTimestamp.length + 2
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
            count += 1
            needsComma = false
            string(pairs[name]!)
        }
        endObject()
    }

    /// Room for `extra` more bytes in a buffer of this writer's own: where they go.
    @inline(__always)
    private mutating func reserve(_ extra: Int) -> UnsafeMutablePointer<UInt8> {
        if count + extra > capacity { grow(toHold: extra) }
        return base + count
    }

    @inline(never)
    private mutating func grow(toHold extra: Int) {
        let capacity = Swift.max(self.capacity * 2, count + extra)
        let base = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        base.initialize(from: self.base, count: count)
        self.base.deallocate()
        self.base = base
        self.capacity = capacity
    }

    /// Where a value of `length` bytes goes, after the comma due before it
    /// (written and counted here); the caller writes the value and counts it.
    @inline(__always)
    private mutating func value(_ length: Int) -> UnsafeMutablePointer<UInt8> {
        let at = reserve(length + 1)
        defer { needsComma = true }
        guard needsComma else { return at }
        at.pointee = UInt8(ascii: ",")
        count += 1
        return at + 1
    }

    /// A value that is its own text (a number, `true`, `null`): copied as it is.
    private mutating func raw(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            let at = value(bytes.count)
            if let source = bytes.baseAddress { at.update(from: source, count: bytes.count) }
            count += bytes.count
        }
    }

    /// A string value: in quotes, escaped as `appendJSONString` escapes (most
    /// strings need no escape, and are copied whole).
    @inline(__always)
    private mutating func writeString(_ utf8: UnsafeBufferPointer<UInt8>) {
        guard JSONEscaping.firstEscape(utf8) == utf8.count else { return writeEscaped(utf8) }
        let at = value(utf8.count + 2)
        at[0] = UInt8(ascii: "\"")
        if let source = utf8.baseAddress { (at + 1).update(from: source, count: utf8.count) }
        at[utf8.count + 1] = UInt8(ascii: "\"")
        count += utf8.count + 2
    }

    @inline(never)
    private mutating func writeEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        var escaped: [UInt8] = []
        escaped.appendJSONString(utf8: utf8)
        escaped.withUnsafeBufferPointer { escaped in
            let at = value(escaped.count)
            at.update(from: escaped.baseAddress!, count: escaped.count)
            count += escaped.count
        }
    }
}
