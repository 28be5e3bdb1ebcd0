import MusicSupport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Shared helpers: timestamps, byte appending, clocks")
struct FormattingTests {
    @Test("UTC timestamps: the epoch, a leap day, the turn of a century, the API's example")
    func utcTimestamps() {
        let cases: [(Int64, String)] = [
            (0, "1970-01-01T00:00:00Z"),
            (946_684_799, "1999-12-31T23:59:59Z"),
            (1_709_251_199, "2024-02-29T23:59:59Z"),
            (1_782_642_600, "2026-06-28T10:30:00Z"),
        ]
        for (seconds, text) in cases {
            #expect(UTCTimestamp.string(seconds) == text)
            #expect(UTCTimestamp.bytes(seconds) == Array(text.utf8))
            #expect(text.utf8.count == UTCTimestamp.length)
        }
    }

    @Test("appendDecimal pads to the width and never cuts; appendUTF8 copies every byte")
    func appending() {
        var bytes: [UInt8] = []
        bytes.appendDecimal(0, width: 3)
        bytes.append(UInt8(ascii: " "))
        bytes.appendDecimal(7)
        bytes.append(UInt8(ascii: " "))
        bytes.appendDecimal(12_345, width: 3)
        bytes.append(UInt8(ascii: " "))
        bytes.appendDecimal(UInt64.max)
        bytes.append(UInt8(ascii: " "))
        bytes.appendUTF8("é♫\u{1F3B5}")
        #expect(String(decoding: bytes, as: UTF8.self) == "000 7 12345 18446744073709551615 é♫\u{1F3B5}")
    }

    @Test("the monotonic clock never goes back, and its two units agree")
    func monotonic() {
        var last = monotonicNanoseconds()
        for _ in 0..<1_000 {
            let now = monotonicNanoseconds()
            #expect(now >= last)
            last = now
        }
        let seconds = monotonicSeconds()
        let nanoseconds = monotonicNanoseconds()
        #expect(abs(Double(nanoseconds) / 1e9 - seconds) < 1)
        #expect(wallClockMilliseconds() > 1_700_000_000_000)
    }
}

/// Counts the objects alive, so that a test sees a thread's object released.
private final class Tracked: Sendable {
    static let alive = Atomic<Int>(0)
    init() { Self.alive.add(1, ordering: .relaxed) }
    deinit { Self.alive.subtract(1, ordering: .relaxed) }
}

/// Polls `condition` every millisecond for at most `seconds`.
private func eventually(within seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = monotonicSeconds() + seconds
    while !condition() {
        if monotonicSeconds() > deadline { return false }
        usleep(1_000)
    }
    return true
}

@Suite("Thread-local storage and thread start", .serialized)
struct ThreadLocalTests {
    @Test("each thread gets its own object, made once, released when the thread ends")
    func perThreadObjects() {
        let local = ThreadLocal<Tracked>()
        defer { local.delete() }
        let before = Tracked.alive.load(ordering: .relaxed)
        let threads = 4
        let seen = Mutex<[ObjectIdentifier]>([])
        let finished = Atomic<Int>(0)
        let madeTwice = Atomic<Int>(0)
        for _ in 0..<threads {
            startThread {
                let first = local.value { Tracked() }
                let second = local.value { Tracked() }
                // Made once per thread: the second call finds the first object.
                if first !== second { madeTwice.add(1, ordering: .relaxed) }
                seen.withLock { $0.append(ObjectIdentifier(first)) }
                // Every thread holds its object until all have made theirs: a
                // released object's address could be reused by the next one.
                finished.add(1, ordering: .relaxed)
                _ = eventually { finished.load(ordering: .relaxed) == threads }
            }
        }
        #expect(eventually { finished.load(ordering: .relaxed) == threads })
        #expect(Set(seen.withLock { $0 }).count == threads)
        #expect(madeTwice.load(ordering: .relaxed) == 0)
        // Each thread's object is released by the key's destructor as its thread ends.
        #expect(eventually { Tracked.alive.load(ordering: .relaxed) == before })
    }

    @Test("a reference set on one thread is seen there only, and cleared by set(nil)")
    func references() {
        let local = ThreadLocalReference<Tracked>()
        defer { local.delete() }
        let object = Tracked()
        #expect(!local.isSet)
        local.set(object)
        #expect(local.isSet && local.value === object)
        let otherSaw = Mutex<Bool?>(nil)
        startThread { otherSaw.withLock { $0 = local.isSet } }
        #expect(eventually { otherSaw.withLock { $0 } != nil })
        #expect(otherSaw.withLock { $0 } == false)
        local.set(nil)
        #expect(!local.isSet && local.value == nil)
    }
}
