import HTTPTypes
import MusicCore

/// Share links: create (for a collection or a track), revoke, and the public
/// view behind a token.
extension MusicAPI {
    func shareCollection(_ path: PathParameters, _ caller: Caller, _ context: RequestContext) throws -> APIResponse {
        let (visibility, days) = try shareOptions(context)
        let (link, token) = try shares.create(for: path[.collectionID], visibility: visibility, expiresInDays: days, as: caller)
        return created(link, token: token, context: context)
    }

    func shareTrack(_ path: PathParameters, _ caller: Caller, _ context: RequestContext) throws -> APIResponse {
        let (visibility, days) = try shareOptions(context)
        let (link, token) = try shares.createForTrack(path[.trackID], visibility: visibility, expiresInDays: days, as: caller)
        return created(link, token: token, context: context)
    }

    /// The body of a share request, the same for both kinds: optional, and
    /// every field optional (null is the default).
    private func shareOptions(_ context: RequestContext) throws -> (ShareLink.Visibility, days: Int?) {
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
        return (visibility, days)
    }

    private func created(_ link: ShareLink, token: String, context: RequestContext) -> APIResponse {
        var json = JSONWriter(capacity: 384)
        json.beginObject()
        json.key("id"); json.string(link.id)
        json.key("token"); json.string(token)
        json.key("url"); json.string(sharedViewURL(token: token))
        json.key("target_type"); json.string(link.target.type)
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

    /// The absolute URL of a shared view: on the configured public address
    /// (`MUSIC_PUBLIC_URL`), never on the Host a client sent.
    func sharedViewURL(token: String) -> String {
        publicURL + "/v1/music/shared/" + token
    }

    /// `GET /v1/music/shared/{token}`, without a key. Every key is always there
    /// (null when it does not apply): `kind`, `available`, `message`, `share`,
    /// `track`, `collection`, `tracks`. A collection's link shows every track,
    /// or with `limit` or `offset` one page of them, as the collection's track
    /// listing pages its members (same parameters, limits and `limit`/`offset`
    /// fields).
    func openShare(_ path: PathParameters, _ context: RequestContext) throws -> APIResponse {
        var page: (limit: Int, offset: Int)?
        if context.target.query("limit") != nil || context.target.query("offset") != nil {
            page = try pageQuery(context, .collectionTracks)
        }
        let view = try shares.open(token: path[.token], page: page.map { (limit: $0.limit, fromPosition: $0.offset) })
        var json = JSONWriter(capacity: 512)
        json.beginObject()
        json.key("kind"); json.string(view.link.target.type)
        json.key("available"); json.bool(view.available)
        json.key("message"); json.string(view.unavailableMessage)
        json.key("share")
        json.beginObject()
        json.key("target_type"); json.string(view.link.target.type)
        json.key("visibility"); json.string(view.link.visibility.rawValue)
        json.key("expires_at"); json.string(view.link.expiresAt?.iso8601)
        json.endObject()
        switch view.content {
        case .track(let track):
            json.key("track")
            if let track { json.writeShared(track, position: nil) } else { json.null() }
            json.key("collection"); json.null()
            json.key("tracks"); json.null()
        case .collection(let collection, let tracks):
            json.key("track"); json.null()
            json.key("collection")
            if let collection {
                json.beginObject()
                json.key("id"); json.string(collection.id)
                json.key("name"); json.string(collection.name)
                json.key("description"); json.string(collection.description)
                json.endObject()
                json.key("tracks")
                json.beginArray()
                for entry in tracks { json.writeShared(entry.track, position: entry.position) }
                json.endArray()
            } else {
                json.null()
                json.key("tracks"); json.null()
            }
            if let page {
                json.key("limit"); json.int(page.limit)
                json.key("offset"); json.int(page.offset)
            }
        }
        json.endObject()
        return APIResponse(status: .ok, json: json.bytes, traceID: context.traceID)
    }
}

extension SharedView {
    /// What the view says instead of the content once the shared item is gone;
    /// nil while it is available.
    var unavailableMessage: String? {
        switch content {
        case .track(let track): track == nil ? "This track is no longer available." : nil
        case .collection(let collection, _): collection == nil ? "This collection is no longer available." : nil
        }
    }
}

extension JSONWriter {
    /// A track as a shared view shows it, with its place in the collection
    /// when it is one of a collection's tracks. `playback_url` is null: this
    /// service stores no audio.
    mutating func writeShared(_ track: Track, position: Int?) {
        beginObject()
        key("id"); string(track.id)
        key("title"); string(track.title)
        key("engine"); string(track.engine)
        key("mode"); string(track.mode)
        key("measured_duration_seconds"); double(track.measuredDurationSeconds)
        key("instrumental"); bool(track.instrumental)
        key("playback_url"); null()
        key("licence")
        beginObject()
        key("licence_class"); string(track.licenceClass)
        key("licence_version"); string(track.licenceVersion)
        key("commercial_use"); bool(track.commercialUse)
        key("requires_attribution"); bool(track.requiresAttribution)
        endObject()
        if let position { key("position"); int(position) }
        endObject()
    }
}
