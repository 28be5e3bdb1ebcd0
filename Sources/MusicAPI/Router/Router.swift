import HTTPTypes

/// Maps a method and path to an endpoint.
struct Router: Sendable {
    enum Match {
        case found(Endpoint, Route, Position)
        /// Known path, wrong method: `route.allow` lists the methods it takes.
        case methodNotAllowed(Route, Position)
        case notFound
    }

    /// Where a match is in the table: `routes[route].endpoints[endpoint]`, or
    /// `endpoint == endpoints.count` for a method the route does not take. What
    /// the request's metrics are found by (`HTTPMetrics.row`).
    struct Position: Equatable {
        let route: Int
        let endpoint: Int
    }

    let routes: [Route]

    /// The API, one entry per endpoint. openapi.yaml documents the same endpoints
    /// (same paths, methods, operationIds, and `security: []` on the open ones), and
    /// nginx's `$music_allow` map in nginx/music-common.conf lists the same methods
    /// per path: RouteTableTests checks both against this table.
    static let music = Router(routes: [
        Route("/v1/music/health", [
            .open(.get, "health") { api, _, context in api.health(context) },
        ]),
        Route("/v1/music/openapi.yaml", [
            .open(.get, "openapi") { api, _, context in try api.openAPI(context) },
        ]),
        // Before the organization routes: "shared" is not an organization id.
        // Its token is a secret: the log shows the route's template, never the path.
        Route("/v1/music/shared/{token}", [
            .open(.get, "openShare") { api, path, context in try api.negotiateShare(path, context) },
        ]),
        Route("/v1/music/{organization_id}/collections", [
            .read(.get, "listCollections", cacheable: true) { try $0.listCollections($1, $2, $3) },
            .write(.post, "createCollection") { try $0.createCollection($1, $2, $3) },
        ]),
        Route("/v1/music/{organization_id}/collections/{collection_id}", [
            .read(.get, "getCollection", cacheable: true) { try $0.getCollection($1, $2, $3) },
            .write(.patch, "updateCollection") { try $0.updateCollection($1, $2, $3) },
            .write(.delete, "deleteCollection") { try $0.deleteCollection($1, $2, $3) },
        ]),
        Route("/v1/music/{organization_id}/collections/{collection_id}/tracks", [
            .read(.get, "listCollectionTracks", cacheable: true) { try $0.listCollectionTracks($1, $2, $3) },
            .write(.post, "addCollectionTrack") { try $0.addCollectionTrack($1, $2, $3) },
        ]),
        Route("/v1/music/{organization_id}/collections/{collection_id}/tracks/{track_id}", [
            .write(.delete, "removeCollectionTrack") { try $0.removeCollectionTrack($1, $2, $3) },
        ]),
        Route("/v1/music/{organization_id}/collections/{collection_id}/order", [
            .write(.patch, "reorderCollection") { try $0.reorderCollection($1, $2, $3) },
        ]),
        Route("/v1/music/{organization_id}/collections/{collection_id}/share", [
            .write(.post, "shareCollection") { try $0.shareCollection($1, $2, $3) },
        ]),
        Route("/v1/music/{organization_id}/share/{share_id}", [
            .write(.delete, "revokeShare") { try $0.revokeShare($1, $2, $3) },
        ]),
        Route("/v1/music/{organization_id}/tracks", [
            .read(.get, "listTracks", cacheable: true) { try $0.listTracks($1, $2, $3) },
        ]),
        Route("/v1/music/{organization_id}/tracks/{track_id}", [
            .read(.get, "getTrack", cacheable: true) { try $0.getTrack($1, $2, $3) },
        ]),
        Route("/v1/music/{organization_id}/tracks/{track_id}/share", [
            .write(.post, "shareTrack") { try $0.shareTrack($1, $2, $3) },
        ]),
    ])

    /// `path` is already split into percent-decoded segments; the first route
    /// whose pattern fits decides.
    func match(method: HTTPRequest.Method, path: [String]) -> Match {
        for routeIndex in routes.indices where routes[routeIndex].matches(path) {
            let route = routes[routeIndex]
            for endpointIndex in route.endpoints.indices where route.endpoints[endpointIndex].method == method {
                return .found(route.endpoints[endpointIndex], route, Position(route: routeIndex, endpoint: endpointIndex))
            }
            return .methodNotAllowed(route, Position(route: routeIndex, endpoint: route.endpoints.count))
        }
        return .notFound
    }
}
