/// Prefixed random identifiers: `mcoll_` + 12 lowercase hex digits and friends.
public enum Identifier {
    public static let collection = "mcoll_"
    public static let track = "mtrack_"
    public static let organization = "org_"
    public static let user = "usr_"
    public static let apiKey = "akey_"
    public static let shareLink = "mslink_"

    /// A new id: `prefix` + 12 lowercase hex digits (48 random bits).
    public static func make(_ prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() & 0xFFFF_FFFF_FFFF
        let hex = String(value, radix: 16)
        return prefix + String(repeating: "0", count: 12 - hex.count) + hex
    }

    /// Whether `id` is `prefix` followed by exactly 12 lowercase hex digits.
    public static func isWellFormed(_ id: String, prefix: String) -> Bool {
        guard id.hasPrefix(prefix) else { return false }
        let rest = id.utf8.dropFirst(prefix.utf8.count)
        return rest.count == 12 && rest.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }
}
