import HTTPTypes
import MusicCore

/// Collections and their members: parse, call the service, render. Each is
/// the handler of one endpoint of `Router.music`.
extension MusicAPI {
    func createCollection(_ path: PathParameters, _ caller: Caller, _ context: RequestContext) throws -> APIResponse {
        let idempotencyKey = try context.idempotencyKey()
        if let idempotencyKey, let replay = try replay(idempotencyKey, caller: caller, context: context) {
            return replay
        }
        let body = try context.jsonBody()
        let draft = CollectionDraft(
            name: try body.requiredString("name"),
            description: try body.optionalString("description"),
            coverTrackID: try body.optionalString("cover_track_id"),
            coverImageURL: try body.optionalString("cover_image_url")
        )
        let collection = try collections.create(draft, as: caller)
        let location = "/v1/music/\(caller.organizationID)/collections/\(collection.id)"
        let response = collectionResponse(collection, status: .created, context: context,
                                          extraFields: [HTTPField(name: .location, value: location)])
        if let idempotencyKey {
            // In the create's own transaction: a retry sees the collection and its answer, or neither.
            let record = IdempotencyRecord(
                organizationID: caller.organizationID, userID: caller.userID, key: idempotencyKey, requestHash: APIKey.sha256Hex(context.body),
                status: response.head.status.code, body: response.body, location: location,
                etag: collection.etag, createdAt: clock.now())
            try store.write { try $0.keep(record) }
        }
        return response
    }

    func listCollections(_ path: PathParameters, _ caller: Caller, _ context: RequestContext) throws -> APIResponse {
        let (limit, offset) = try pageQuery(context, .collections)
        let items = try collections.list(limit: limit, offset: offset, as: caller)
        return pageResponse(items, limit: limit, offset: offset, bytesPerItem: 256, context: context) { $0.write($1) }
    }

    func getCollection(_ path: PathParameters, _ caller: Caller, _ context: RequestContext) throws -> APIResponse {
        collectionResponse(try collections.get(path[.collectionID], as: caller), status: .ok, context: context)
    }

    func updateCollection(_ path: PathParameters, _ caller: Caller, _ context: RequestContext) throws -> APIResponse {
        let body = try context.jsonBody()
        let name: String?
        switch try body.update("name") {
        case .keep: name = nil
        case .clear: throw APIError.validation(field: "name", reason: "name cannot be null")
        case .set(let value): name = value
        }
        let patch = CollectionPatch(
            name: name,
            description: try body.update("description"),
            coverTrackID: try body.update("cover_track_id"),
            coverImageURL: try body.update("cover_image_url")
        )
        let collection = try collections.update(path[.collectionID], with: patch, ifMatch: ifMatch(context), as: caller)
        return collectionResponse(collection, status: .ok, context: context)
    }

    func deleteCollection(_ path: PathParameters, _ caller: Caller, _ context: RequestContext) throws -> APIResponse {
        let collectionID = path[.collectionID]
        try collections.delete(collectionID, as: caller)
        return acknowledgement(id: collectionID, detail: "Collection deleted.", context: context)
    }

    func addCollectionTrack(_ path: PathParameters, _ caller: Caller, _ context: RequestContext) throws -> APIResponse {
        let body = try context.jsonBody()
        let trackID = try body.requiredString("track_id")
        let (change, collection) = try collections.addTrack(trackID, to: path[.collectionID], as: caller)
        let detail = change == .changed ? "Track added to collection." : "Track already in collection."
        return acknowledgement(id: trackID, detail: detail, context: context, etag: collection.etag)
    }

    func removeCollectionTrack(_ path: PathParameters, _ caller: Caller, _ context: RequestContext) throws -> APIResponse {
        let trackID = path[.trackID]
        let (change, collection) = try collections.removeTrack(trackID, from: path[.collectionID], as: caller)
        let detail = change == .changed ? "Track removed from collection." : "Track not in collection."
        return acknowledgement(id: trackID, detail: detail, context: context, etag: collection.etag)
    }

    func listCollectionTracks(_ path: PathParameters, _ caller: Caller, _ context: RequestContext) throws -> APIResponse {
        let (limit, offset) = try pageQuery(context, .collectionTracks)
        let (collection, members) = try collections.members(of: path[.collectionID], limit: limit, offset: offset, as: caller)
        return pageResponse(members.indices, limit: limit, offset: offset, bytesPerItem: 96, context: context,
                            extraFields: [HTTPField(name: .eTag, value: collection.etag)],
                            leading: { json in json.key("collection_id"); json.string(collection.id) }) { json, index in
            json.beginObject()
            json.key("track_id"); members.withTrackIDUTF8(at: index) { json.string(utf8: $0) }
            json.key("position"); json.int(members.position(at: index))
            json.key("added_at"); json.timestamp(members.addedAt(at: index))
            json.endObject()
        }
    }

    func reorderCollection(_ path: PathParameters, _ caller: Caller, _ context: RequestContext) throws -> APIResponse {
        let body = try context.jsonBody()
        let ordered = try body.requiredStringArray("ordered_track_ids")
        let collection = try collections.reorder(path[.collectionID], to: ordered, ifMatch: ifMatch(context), as: caller)
        return acknowledgement(id: collection.id, detail: "Collection reordered.", context: context, etag: collection.etag)
    }

    /// The first answer again, for a retry with the same `Idempotency-Key` and body
    /// within 24 hours; a 422 for the same key with another body; `nil` for a new key.
    private func replay(_ key: String, caller: Caller, context: RequestContext) throws -> APIResponse? {
        let now = clock.now()
        guard let record = try store.read({ try $0.idempotencyRecord(organizationID: caller.organizationID, userID: caller.userID, key: key) }),
              !record.isExpired(at: now) else { return nil }
        guard record.requestHash == APIKey.sha256Hex(context.body) else { throw APIError.idempotencyKeyReused }
        var fields: [HTTPField] = [HTTPField(name: .idempotentReplayed, value: "true")]
        if let location = record.location { fields.append(HTTPField(name: .location, value: location)) }
        if let etag = record.etag { fields.append(HTTPField(name: .eTag, value: etag)) }
        var response = APIResponse(status: HTTPResponse.Status(code: record.status), json: record.body, traceID: context.traceID,
                                   extraFields: fields)
        response.replayed = true
        return response
    }

    private func ifMatch(_ context: RequestContext) -> IfMatch? {
        IfMatch(headerValue: context.request.headerFields.value(.ifMatch))
    }

    private func collectionResponse(_ collection: MusicCollection, status: HTTPResponse.Status, context: RequestContext, extraFields: [HTTPField] = []) -> APIResponse {
        var json = JSONWriter(capacity: 384)
        json.write(collection)
        return APIResponse(status: status, json: json.bytes, traceID: context.traceID,
                           extraFields: [HTTPField(name: .eTag, value: collection.etag)] + extraFields)
    }

    /// `{"success": true, "id", "detail"}`; membership changes also carry the
    /// collection's new ETag, for a following `If-Match`.
    func acknowledgement(id: String, detail: String, context: RequestContext, etag: String? = nil) -> APIResponse {
        var json = JSONWriter(capacity: 128)
        json.beginObject()
        json.key("success"); json.bool(true)
        json.key("id"); json.string(id)
        json.key("detail"); json.string(detail)
        json.endObject()
        return APIResponse(status: .ok, json: json.bytes, traceID: context.traceID,
                           extraFields: etag.map { [HTTPField(name: .eTag, value: $0)] } ?? [])
    }
}

extension JSONWriter {
    /// The collection object of docs/api.md.
    mutating func write(_ collection: MusicCollection) {
        beginObject()
        key("id"); string(collection.id)
        key("name"); string(collection.name)
        key("description"); string(collection.description)
        key("cover_track_id"); string(collection.coverTrackID)
        key("cover_image_url"); string(collection.coverImageURL)
        key("track_count"); int(collection.trackCount)
        key("created_at"); timestamp(collection.createdAt)
        key("updated_at"); timestamp(collection.updatedAt)
        endObject()
    }
}
