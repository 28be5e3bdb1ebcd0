import HTTPTypes

/// Listings: the `limit`/`offset` query and the `{"items", "limit", "offset"}` answer.
extension MusicAPI {
    /// `limit` (1...`limits.maximum`, default `limits.defaultLimit`) and `offset` from the query.
    func pageQuery(_ context: RequestContext, _ limits: PageLimits) throws -> (limit: Int, offset: Int) {
        (try context.queryInteger("limit", in: 1...limits.maximum, default: limits.defaultLimit),
         try context.queryInteger("offset", in: 0...RequestContext.maximumOffset, default: 0))
    }

    /// `{...leading fields, "items": [...], "limit", "offset"}`.
    func pageResponse<Items: Collection>(
        _ items: Items, limit: Int, offset: Int, bytesPerItem: Int, context: RequestContext,
        extraFields: [HTTPField] = [], leading: (inout JSONWriter) -> Void = { _ in },
        item write: (inout JSONWriter, Items.Element) -> Void
    ) -> APIResponse {
        var json = JSONWriter(capacity: bytesPerItem * (items.count + 2))
        json.beginObject()
        leading(&json)
        json.key("items")
        json.beginArray()
        for item in items { write(&json, item) }
        json.endArray()
        json.key("limit"); json.int(limit)
        json.key("offset"); json.int(offset)
        json.endObject()
        return APIResponse(status: .ok, json: json.bytes, traceID: context.traceID, extraFields: extraFields)
    }
}

/// The largest and the default `limit` of each listing (openapi.yaml states the same).
struct PageLimits {
    let maximum: Int
    let defaultLimit: Int

    static let collections = PageLimits(maximum: 100, defaultLimit: 50)
    static let tracks = PageLimits(maximum: 100, defaultLimit: 50)
    /// A collection's members, and the shared view of a collection when paged.
    static let collectionTracks = PageLimits(maximum: 500, defaultLimit: 200)
}
