import HTTPTypes
import MusicCore

/// Share links: create, revoke, and the public view behind a token.
extension MusicAPI {
    func shareCollection(_ path: PathParameters, _ caller: Caller, _ context: RequestContext) throws -> APIResponse {
        var visibility = ShareLink.Visibility.linkOnly
        var days: Int?
        if !context.body.isEmpty || context.request.headerFields.value(.contentType) != nil {
            let body = try context.jsonBody()
            if let text = try body.optionalString("visibility") {
                guard let chosen = ShareLink.Visibility(rawValue: text) else {
                    throw APIError.validation(field: "visibility", reason: "visibility must be link_only or public")
                }
                visibility = chosen
            }
            // Any count of days: above the maximum it is the maximum.
            days = try body.optionalSaturatingInteger("expires_in_days")
        }
        let (link, token) = try shares.create(for: path[.collectionID], visibility: visibility, expiresInDays: days, as: caller)
        var json = JSONWriter(capacity: 384)
        json.beginObject()
        json.key("id"); json.string(link.id)
        json.key("token"); json.string(token)
        json.key("url"); json.string(shareURL(token: token, context: context))
        json.key("target_type"); json.string("collection")
        json.key("visibility"); json.string(link.visibility.rawValue)
        json.key("expires_at"); json.string(link.expiresAt?.iso8601)
        json.key("created_at"); json.string(link.createdAt.iso8601)
        json.endObject()
        return APIResponse(status: .created, json: json.bytes, traceID: context.traceID)
    }

    func revokeShare(_ path: PathParameters, _ caller: Caller, _ context: RequestContext) throws -> APIResponse {
        let shareID = path[.shareID]
        try shares.revoke(shareID, as: caller)
        return acknowledgement(id: shareID, detail: "Share link revoked.", context: context)
    }

    /// `GET /v1/music/shared/{token}`, without a key: every track, or with
    /// `limit` or `offset` one page of them, as the collection's track listing
    /// pages its members (same parameters, limits and `limit`/`offset` fields).
    func openShare(_ path: PathParameters, _ context: RequestContext) throws -> APIResponse {
        var page: (limit: Int, offset: Int)?
        if context.target.query("limit") != nil || context.target.query("offset") != nil {
            page = try pageQuery(context, .collectionTracks)
        }
        let view = try shares.open(token: path[.token], page: page.map { (limit: $0.limit, fromPosition: $0.offset) })
        var json = JSONWriter(capacity: 256 + 160 * view.tracks.count)
        json.beginObject()
        json.key("kind"); json.string("collection")
        json.key("available"); json.bool(view.collection != nil)
        json.key("share")
        json.beginObject()
        json.key("target_type"); json.string("collection")
        json.key("visibility"); json.string(view.link.visibility.rawValue)
        json.key("expires_at"); json.string(view.link.expiresAt?.iso8601)
        json.endObject()
        if let collection = view.collection {
            json.key("collection")
            json.beginObject()
            json.key("id"); json.string(collection.id)
            json.key("name"); json.string(collection.name)
            json.key("description"); json.string(collection.description)
            json.endObject()
            json.key("tracks")
            json.beginArray()
            for entry in view.tracks {
                json.beginObject()
                json.key("id"); json.string(entry.track.id)
                json.key("title"); json.string(entry.track.title)
                json.key("measured_duration_seconds"); json.double(entry.track.measuredDurationSeconds)
                json.key("instrumental"); json.bool(entry.track.instrumental)
                json.key("position"); json.int(entry.position)
                json.endObject()
            }
            json.endArray()
        } else {
            json.key("message"); json.string("This collection is no longer available.")
        }
        if let page {
            json.key("limit"); json.int(page.limit)
            json.key("offset"); json.int(page.offset)
        }
        json.endObject()
        return APIResponse(status: .ok, json: json.bytes, traceID: context.traceID)
    }

    /// The absolute URL of a shared view, on the host the request came to.
    private func shareURL(token: String, context: RequestContext) -> String {
        let scheme = context.request.scheme ?? "https"
        let host = context.request.authority ?? "localhost"
        return "\(scheme)://\(host)/v1/music/shared/\(token)"
    }
}
