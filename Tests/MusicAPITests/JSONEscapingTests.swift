import MusicSupport
import StoreTestSupport
import Testing

/// MusicSupport's JSONEscaping against random bytes (here for the tests' one seeded generator).
@Suite("JSON escaping: the word-at-a-time scan")
struct JSONEscapingTests {
    @Test("firstEscape, eight bytes at a time, agrees with a bytewise scan at every position and on random bytes")
    func firstEscape() {
        func naive(_ bytes: [UInt8]) -> Int { bytes.firstIndex { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C } ?? bytes.count }
        func fast(_ bytes: [UInt8]) -> Int { bytes.withUnsafeBufferPointer { JSONEscaping.firstEscape($0) } }
        for special: UInt8 in [0x00, 0x01, 0x09, 0x0A, 0x1F, 0x22, 0x5C] {
            for length in 0..<20 {
                for position in 0..<length {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[position] = special
                    #expect(fast(bytes) == position, "\(special) at \(position) of \(length)")
                }
            }
        }
        // The bytes around the special ones, and those above 0x7F, never count.
        let near: [UInt8] = [0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F, 0x80, 0xA2, 0xC3, 0xDC, 0xFF]
        #expect(fast(near + near) == near.count * 2)
        var generator = SeededGenerator(state: 2026)
        for _ in 0..<2_000 {
            let length = Int(generator.next() % 40)
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next() % 7 == 0 ? generator.next() % 0x24 : 0x20 + generator.next() % 0xE0) }
            #expect(fast(bytes) == naive(bytes), "\(bytes)")
        }
    }
}
