import HTTPTypes
import MusicCore

/// The read side of tracks.
extension MusicAPI {
    func getTrack(_ path: PathParameters, _ caller: Caller, _ context: RequestContext) throws -> APIResponse {
        let track = try catalog.track(path[.trackID], as: caller)
        var json = JSONWriter(capacity: 384)
        json.write(track)
        return APIResponse(status: .ok, json: json.bytes, traceID: context.traceID)
    }

    func listTracks(_ path: PathParameters, _ caller: Caller, _ context: RequestContext) throws -> APIResponse {
        let (limit, offset) = try pageQuery(context, .tracks)
        let collectionID = context.target.query("collection_id")
        if let collectionID, collectionID.isEmpty {
            throw APIError.validation(field: "collection_id", reason: "collection_id must not be empty")
        }
        let tracks = try catalog.tracks(in: collectionID, limit: limit, offset: offset, as: caller)
        return pageResponse(tracks, limit: limit, offset: offset, bytesPerItem: 384, context: context) { $0.write($1) }
    }
}

extension JSONWriter {
    /// The track object. `playback_url` is null: this service stores no audio.
    mutating func write(_ track: Track) {
        beginObject()
        key("id"); string(track.id)
        key("title"); string(track.title)
        key("engine"); string(track.engine)
        key("mode"); string(track.mode)
        key("measured_duration_seconds"); double(track.measuredDurationSeconds)
        key("instrumental"); bool(track.instrumental)
        key("mime_type"); string(track.mimeType)
        key("licence_class"); string(track.licenceClass)
        key("licence_version"); string(track.licenceVersion)
        key("commercial_use"); bool(track.commercialUse)
        key("requires_attribution"); bool(track.requiresAttribution)
        key("created_at"); timestamp(track.createdAt)
        key("playback_url"); null()
        endObject()
    }
}
