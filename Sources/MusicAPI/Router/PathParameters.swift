import HTTPTypes
import MusicCore

/// A parameter a route's pattern may name: each is read by name by the
/// handlers, so a name outside this list is a typo (refused when the table is built).
enum PathParameter: String, Sendable, CaseIterable {
    case organizationID = "organization_id"
    case collectionID = "collection_id"
    case trackID = "track_id"
    case shareID = "share_id"
    case token
}

/// The parameters of a matched path, read from its segments by the route's
/// pattern when a handler asks: nothing is built per request.
struct PathParameters {
    let path: [String]
    let pattern: [Route.Segment]

    /// The segment the pattern names `name`; "" when it names none (a handler
    /// asks only for the parameters of its own route).
    subscript(_ name: PathParameter) -> String {
        for index in pattern.indices {
            if case .parameter(name) = pattern[index] { return path[index] }
        }
        return ""
    }
}
