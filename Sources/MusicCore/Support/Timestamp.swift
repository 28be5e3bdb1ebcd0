import MusicSupport

/// A UTC instant to the second, as the API shows it: `2026-06-28T10:30:00Z`.
public struct Timestamp: Hashable, Comparable, Sendable {
    public var secondsSince1970: Int64

    public init(secondsSince1970: Int64) {
        self.secondsSince1970 = secondsSince1970
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.secondsSince1970 < rhs.secondsSince1970
    }

    /// ISO 8601 in UTC with a `Z`: `2026-06-28T10:30:00Z` (20 ASCII bytes).
    public var iso8601: String { UTCTimestamp.string(secondsSince1970) }
}
