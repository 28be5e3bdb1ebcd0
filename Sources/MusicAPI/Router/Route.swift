import HTTPTypes

/// The endpoints of API.md.
enum Endpoint: Sendable {
    case health, openAPI
    case listCollections, createCollection
    case getCollection, updateCollection, deleteCollection
    case listCollectionTracks, addCollectionTrack
    case removeCollectionTrack
    case reorderCollection
    case shareCollection, revokeShare, openShare
    case getTrack, listTracks
}

/// One path pattern and the endpoint each method reaches there.
struct Route: Sendable {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    let segments: [Segment]
    let methods: [(HTTPRequest.Method, Endpoint)]
    /// What the log shows for a path of this route, when its parameters are
    /// secrets (a share token); `nil`: the path as sent.
    let loggedAs: String?

    init(_ pattern: String, _ methods: [(HTTPRequest.Method, Endpoint)], loggedAs: String? = nil) {
        segments = pattern.split(separator: "/").map { part in
            part.hasPrefix("{") ? .parameter(String(part.dropFirst().dropLast())) : .literal(String(part))
        }
        self.methods = methods
        self.loggedAs = loggedAs
    }

    /// The path parameters when `path` fits the pattern.
    func match(_ path: [String]) -> [String: String]? {
        guard path.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, part) in zip(segments, path) {
            switch segment {
            case .literal(let literal): if literal != part { return nil }
            case .parameter(let name): parameters[name] = part
            }
        }
        return parameters
    }
}
