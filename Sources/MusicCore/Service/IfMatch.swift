/// An `If-Match` precondition (RFC 9110 13.1.1): `*`, or a list of entity tags
/// compared strongly.
package struct IfMatch: Equatable, Sendable {
    package var matchesAny: Bool
    package var tags: [String]

    /// Parses the header value; `nil` for an absent header.
    package init?(headerValue: String?) {
        guard let value = headerValue else { return nil }
        let trimmed = value.trimmingSpaces
        if trimmed == "*" {
            matchesAny = true
            tags = []
            return
        }
        matchesAny = false
        tags = trimmed.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
    }

    /// Strong comparison: a weak tag (`W/"..."`) never matches.
    package func isSatisfied(by collection: MusicCollection) -> Bool {
        matchesAny || tags.contains(collection.etag)
    }
}

extension String {
    var trimmingSpaces: String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        let end = scalars.lastIndex(where: { $0 != " " && $0 != "\t" })!
        return String(scalars[start...end])
    }
}
