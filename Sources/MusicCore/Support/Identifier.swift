import MusicSupport
#if canImport(Glibc)
import Glibc
#endif

/// Prefixed random identifiers: `mcoll_` + 12 lowercase hex digits and friends.
package enum Identifier {
    package static let collection = "mcoll_"
    package static let track = "mtrack_"
    package static let organization = "org_"
    package static let user = "usr_"
    package static let apiKey = "akey_"
    package static let shareLink = "mslink_"

    /// A new id: `prefix` + 12 lowercase hex digits (48 random bits).
    package static func make(_ prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return format(prefix, generator.next() & 0xFFFF_FFFF_FFFF)
    }

    /// A new id for rows created at a high rate (collections): the same form, but
    /// the first 5 hex digits are the clock's milliseconds modulo 2^20 (they come
    /// round every 17.5 minutes) and the other 7 are random (28 bits).
    ///
    /// Random ids put every insert on a random leaf of the id's unique index: a
    /// batch of creates writes about twice the pages (docs/performance.md) and,
    /// once the index outgrows the cache, reads them first.
    /// Ids made in the same few milliseconds sit side by side in the index, so
    /// a batch touches one or two of its leaves, however big it is. Two ids can
    /// still collide (likelier than with 48 random bits when thousands are made
    /// in one millisecond): the store refuses a taken id and the caller draws again.
    package static func makeOrdered(_ prefix: String, milliseconds: UInt64 = currentMilliseconds()) -> String {
        var generator = SystemRandomNumberGenerator()
        return format(prefix, (milliseconds & 0xF_FFFF) << 28 | generator.next() & 0xFFF_FFFF)
    }

    /// Milliseconds since 1970 by the system clock.
    package static func currentMilliseconds() -> UInt64 {
        wallClockMilliseconds()
    }

    private static func format(_ prefix: String, _ value: UInt64) -> String {
        let hex = String(value, radix: 16)
        return prefix + String(repeating: "0", count: 12 - hex.count) + hex
    }

    /// Whether `id` is `prefix` followed by exactly 12 lowercase hex digits.
    package static func isWellFormed(_ id: String, prefix: String) -> Bool {
        guard id.hasPrefix(prefix) else { return false }
        let rest = id.utf8.dropFirst(prefix.utf8.count)
        return rest.count == 12 && rest.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }
}
