/// Every way a request can fail, as a value. `MusicAPI` maps each case to the
/// error envelope in one place.
package enum MusicError: Error, Equatable, Sendable {
    case authenticationRequired
    case invalidAPIKey
    case apiKeyDeactivated
    case organizationAccessDenied
    case insufficientPermissions
    /// A field rule broken: `field` names it (`body` for malformed JSON).
    case validation(field: String, reason: String)
    /// Unknown or not-owned collection, unknown or foreign track.
    case notFound(reason: String, details: [String: String])
    case collectionFull(limit: Int)
    case preconditionFailed
}
