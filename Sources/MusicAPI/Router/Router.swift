import HTTPTypes

/// Maps a method and path to an endpoint and its path parameters.
struct Router: Sendable {
    enum Match {
        case found(Endpoint, [String: String], Route)
        /// Known path, wrong method: the methods it allows.
        case methodNotAllowed([HTTPRequest.Method], Route)
        case notFound
    }

    let routes: [Route]

    static let music = Router(routes: [
        Route("/v1/music/health", [(.get, .health)]),
        Route("/v1/music/openapi.yaml", [(.get, .openAPI)]),
        // Before the organization routes: "shared" is not an organization id.
        // Its token is a secret: never logged, however the path was spelled.
        Route("/v1/music/shared/{token}", [(.get, .openShare)], loggedAs: "/v1/music/shared/[token]"),
        Route("/v1/music/{organization_id}/collections", [(.get, .listCollections), (.post, .createCollection)]),
        Route("/v1/music/{organization_id}/collections/{collection_id}",
              [(.get, .getCollection), (.patch, .updateCollection), (.delete, .deleteCollection)]),
        Route("/v1/music/{organization_id}/collections/{collection_id}/tracks",
              [(.get, .listCollectionTracks), (.post, .addCollectionTrack)]),
        Route("/v1/music/{organization_id}/collections/{collection_id}/tracks/{track_id}", [(.delete, .removeCollectionTrack)]),
        Route("/v1/music/{organization_id}/collections/{collection_id}/order", [(.patch, .reorderCollection)]),
        Route("/v1/music/{organization_id}/collections/{collection_id}/share", [(.post, .shareCollection)]),
        Route("/v1/music/{organization_id}/share/{share_id}", [(.delete, .revokeShare)]),
        Route("/v1/music/{organization_id}/tracks", [(.get, .listTracks)]),
        Route("/v1/music/{organization_id}/tracks/{track_id}", [(.get, .getTrack)]),
    ])

    /// `path` is already split into percent-decoded segments.
    func match(method: HTTPRequest.Method, path: [String]) -> Match {
        for route in routes {
            guard let parameters = route.match(path) else { continue }
            if let endpoint = route.methods.first(where: { $0.0 == method })?.1 {
                return .found(endpoint, parameters, route)
            }
            return .methodNotAllowed(route.methods.map(\.0), route)
        }
        return .notFound
    }
}
