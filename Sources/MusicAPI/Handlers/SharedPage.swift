import HTTPTypes
import MusicCore

/// `GET /v1/music/shared/{token}` for a person: the HTML page of a share link,
/// chosen by `Accept` (`MediaPreference`); every other request gets the JSON
/// view (`openShare`). Both answers carry `Vary: Accept`.
extension MusicAPI {
    func negotiateShare(_ path: PathParameters, _ context: RequestContext) throws -> APIResponse {
        var response: APIResponse
        if MediaPreference.prefersHTML(context.request.headerFields.value(.accept)) {
            response = try sharedPage(path, context)
        } else {
            // The JSON view's refusals (404, 422) as `respond` would give them, with Vary added.
            do {
                response = try openShare(path, context)
            } catch let error as MusicError {
                response = errorResponse(APIError(error), context: context)
            } catch let error as APIError {
                response = errorResponse(error, context: context)
            }
        }
        response.head.headerFields.append(HTTPField(name: .vary, value: "Accept"))
        return response
    }

    /// The page: `limit` (1 to the JSON view's maximum, default
    /// `PageLimits.sharedPage.defaultLimit`) and `offset` are validated as the
    /// JSON view's, a bad one answering a 422 page. Unknown, revoked and expired
    /// links answer the "not available" page with the JSON view's 404.
    func sharedPage(_ path: PathParameters, _ context: RequestContext) throws -> APIResponse {
        let paging: (limit: Int, offset: Int)
        do {
            paging = try pageQuery(context, .sharedPage)
        } catch let error as APIError {
            return SharedPage.response(status: error.status, SharedPage.invalidPage(), indexable: false, context: context)
        }
        let token = path[.token]
        var view: SharedView
        do {
            // One more than shown: whether a next page exists.
            view = try openSharedView(token: token, page: (limit: paging.limit + 1, fromPosition: paging.offset))
        } catch MusicError.notFound {
            return SharedPage.response(status: .notFound, SharedPage.notAvailable(), indexable: false, context: context)
        }
        var hasMore = false
        if case .collection(let collection, var tracks) = view.content, tracks.count > paging.limit {
            tracks.removeLast(tracks.count - paging.limit)
            view.content = .collection(collection, tracks: tracks)
            hasMore = true
        }
        let page = SharedPage.Paging(limit: paging.limit, offset: paging.offset, hasMore: hasMore)
        let html = SharedPage.render(view, paging: page, canonicalURL: sharedViewURL(token: token))
        let indexable = view.available && view.link.visibility == .public
        return SharedPage.response(status: .ok, html, indexable: indexable, context: context)
    }

    /// `ShareService.open`: the view of either kind of link.
    private func openSharedView(token: String, page: (limit: Int, fromPosition: Int)) throws -> SharedView {
        try shares.open(token: token, page: page)
    }
}

extension PageLimits {
    /// The page's tracks: the JSON view's maximum, a screenful by default.
    static let sharedPage = PageLimits(maximum: PageLimits.collectionTracks.maximum, defaultLimit: 50)
}

extension HTTPField.Name {
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let robotsTag = HTTPField.Name("X-Robots-Tag")!
}

/// The HTML of the shared page, from a `SharedView`. Every value goes through
/// `HTMLWriter.text` (`HTML.escape`); the token appears only in the canonical
/// URL (`<link rel="canonical">`, `og:url`). The DOM (ids, classes) is what the
/// browser tests read (Tests/EndToEnd/test_shared_page_browser.py).
enum SharedPage {
    /// Where nginx serves nginx/static/shared-page.css (nginx/music-server.conf).
    static let stylesheetPath = "/v1/music/shared-assets/shared-page.css"
    /// The SHA-256 of nginx/static/shared-page.css: a new file is a new URL, so
    /// browsers holding the old one (cached for a year) fetch it. SharedPageTests
    /// checks it against the file.
    static let stylesheetVersion = "249a9b5a618c77c4ea604cbdb8db356741d0ef60fbfd2d262993d4189ff643ca"
    /// Relative to the page (`/v1/music/shared/{token}`): behind a proxy that
    /// serves the API under a path prefix (MUSIC_PUBLIC_URL with a path), the
    /// stylesheet is asked for under the same prefix as the page.
    static var stylesheetURL: String {
        "../" + stylesheetPath.dropFirst("/v1/music/".count) + "?v=" + stylesheetVersion
    }

    /// No script, no frames, no forms; styles from this origin (the stylesheet)
    /// and images (a collection's cover) from any http(s) address.
    static let contentSecurityPolicy =
        "default-src 'none'; style-src 'self'; img-src https: http:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    struct Paging {
        let limit: Int
        let offset: Int
        /// Whether tracks follow this page.
        let hasMore: Bool
    }

    /// The answer's fields: never cached (a revoked link stops opening at
    /// once), no referrer (the token is in the URL), `X-Robots-Tag: noindex`
    /// unless `indexable` (a live public link). `X-Content-Type-Options` is
    /// nginx's (music-headers.conf), which hides this one.
    static func response(status: HTTPResponse.Status, _ html: [UInt8], indexable: Bool, context: RequestContext) -> APIResponse {
        var fields = HTTPFields()
        fields.reserveCapacity(11)
        fields.append(HTTPField(name: .contentType, value: "text/html; charset=utf-8"))
        fields.append(HTTPField(name: .cacheControl, value: "no-store"))
        fields.append(HTTPField(name: .requestID, value: context.traceID))
        fields.append(HTTPField(name: .contentSecurityPolicy, value: contentSecurityPolicy))
        fields.append(HTTPField(name: .xContentTypeOptions, value: "nosniff"))
        fields.append(HTTPField(name: .referrerPolicy, value: "no-referrer"))
        if !indexable { fields.append(HTTPField(name: .robotsTag, value: "noindex")) }
        return APIResponse(head: HTTPResponse(status: status, headerFields: fields), body: html)
    }

    static func render(_ view: SharedView, paging: Paging, canonicalURL: String) -> [UInt8] {
        let indexable = view.link.visibility == .public
        switch view.content {
        case .collection(let collection?, let tracks):
            return collectionPage(collection, tracks: tracks, paging: paging, canonicalURL: canonicalURL, indexable: indexable)
        case .track(let track?):
            return trackPage(track, canonicalURL: canonicalURL, indexable: indexable)
        case .collection(nil, _):
            return gonePage(title: "This collection is no longer available",
                            detail: "The collection behind this link was deleted.")
        case .track(nil):
            return gonePage(title: "This track is no longer available",
                            detail: "The track behind this link was deleted.")
        }
    }

    // MARK: Pages

    private static func collectionPage(_ collection: MusicCollection, tracks: [CollectionTrack], paging: Paging,
                                       canonicalURL: String, indexable: Bool) -> [UInt8] {
        var html = HTMLWriter(capacity: 2048 + 256 * tracks.count)
        // Only an http(s) URL, by the rule the API stores it under (never
        // `javascript:` or `data:`, whatever reached the database).
        let cover = collection.coverImageURL.flatMap { (try? CollectionRules.checkCoverImageURL($0)) != nil ? $0 : nil }
        let summary = collection.description.flatMap { $0.isEmpty ? nil : $0 } ?? "A shared music collection."
        head(&html, title: collection.name, description: summary, kind: "music.playlist", canonicalURL: canonicalURL,
             image: cover, imageAlt: "Cover of \(collection.name)", indexable: indexable)
        body(&html, label: "Shared collection")
        html.markup("<h1 id=\"title\">"); html.text(collection.name); html.markup("</h1>\n")
        if let description = collection.description, !description.isEmpty {
            html.markup("<p id=\"description\">"); html.text(description); html.markup("</p>\n")
        }
        if let cover {
            html.markup("<img id=\"cover\" src=\""); html.text(cover)
            html.markup("\" alt=\""); html.text("Cover of \(collection.name)")
            html.markup("\" referrerpolicy=\"no-referrer\">\n")
        }
        if tracks.isEmpty {
            html.markup("<p id=\"no-tracks\">")
            html.text(paging.offset == 0 ? "This collection has no tracks yet." : "No tracks on this page.")
            html.markup("</p>\n")
        } else {
            html.markup("<h2 id=\"tracks-heading\">Tracks</h2>\n")
            // The numbers shown count from 1; data-position is the JSON view's position.
            html.markup("<ol id=\"tracks\" aria-labelledby=\"tracks-heading\" start=\"")
            html.number((tracks.first?.position ?? paging.offset) + 1)
            html.markup("\">\n")
            for entry in tracks {
                html.markup("<li class=\"track\" data-position=\""); html.number(entry.position)
                html.markup("\"><span class=\"track-title\">"); html.text(entry.track.title)
                html.markup("</span> <span class=\"track-duration\">")
                html.text(duration(entry.track.measuredDurationSeconds))
                html.markup("</span>")
                if entry.track.instrumental {
                    html.markup(" <span class=\"track-instrumental\">Instrumental</span>")
                }
                html.markup("</li>\n")
            }
            html.markup("</ol>\n")
        }
        let hasPrevious = paging.offset > 0
        if hasPrevious || paging.hasMore {
            // Relative links: the page's own path (the token) is never written out.
            html.markup("<nav id=\"pages\" aria-label=\"Pages\">\n")
            if hasPrevious {
                html.markup("<a rel=\"prev\" href=\"")
                html.text("?limit=\(paging.limit)&offset=\(max(0, paging.offset - paging.limit))")
                html.markup("\">Previous tracks</a>\n")
            }
            if paging.hasMore {
                html.markup("<a rel=\"next\" href=\"")
                html.text("?limit=\(paging.limit)&offset=\(paging.offset + paging.limit)")
                html.markup("\">Next tracks</a>\n")
            }
            html.markup("</nav>\n")
        }
        end(&html)
        return html.bytes
    }

    private static func trackPage(_ track: Track, canonicalURL: String, indexable: Bool) -> [UInt8] {
        var html = HTMLWriter()
        let length = duration(track.measuredDurationSeconds)
        var summary = "A shared track"
        if track.measuredDurationSeconds != nil { summary += ", \(length)" }
        summary += track.instrumental ? ", instrumental." : "."
        head(&html, title: track.title, description: summary, kind: "music.song", canonicalURL: canonicalURL,
             image: nil, imageAlt: nil, indexable: indexable)
        body(&html, label: "Shared track")
        html.markup("<h1 id=\"title\">"); html.text(track.title); html.markup("</h1>\n")
        html.markup("<dl id=\"facts\">\n")
        fact(&html, "Duration", length)
        fact(&html, "Instrumental", track.instrumental ? "Yes" : "No, it has vocals")
        fact(&html, "Licence class", track.licenceClass)
        fact(&html, "Licence version", track.licenceVersion)
        fact(&html, "Commercial use", track.commercialUse ? "Allowed" : "Not allowed")
        fact(&html, "Attribution", track.requiresAttribution ? "Required: credit the creator" : "Not required")
        html.markup("</dl>\n")
        end(&html)
        return html.bytes
    }

    private static func fact(_ html: inout HTMLWriter, _ name: String, _ value: String) {
        html.markup("<dt>"); html.text(name); html.markup("</dt><dd>"); html.text(value); html.markup("</dd>\n")
    }

    /// A deleted collection or track: 200, as the JSON view's `available: false`.
    private static func gonePage(title: String, detail: String) -> [UInt8] {
        message(title: title, detail: detail)
    }

    /// Unknown, revoked or expired (one page for all three, as one 404 in JSON).
    static func notAvailable() -> [UInt8] {
        message(title: "This link is not available",
                detail: "It may have been revoked or have expired, or it was copied incompletely.")
    }

    /// `limit` or `offset` out of range (422, as the JSON view).
    static func invalidPage() -> [UInt8] {
        var html = HTMLWriter()
        head(&html, title: "This page does not exist", description: nil, kind: nil, canonicalURL: nil,
             image: nil, imageAlt: nil, indexable: false)
        body(&html, label: "Shared link")
        html.markup("<h1 id=\"title\">This page does not exist</h1>\n")
        html.markup("<p>The page number in the address is not valid. <a href=\"?offset=0\">Go to the first page</a>.</p>\n")
        end(&html)
        return html.bytes
    }

    private static func message(title: String, detail: String) -> [UInt8] {
        var html = HTMLWriter()
        head(&html, title: title, description: nil, kind: nil, canonicalURL: nil, image: nil, imageAlt: nil, indexable: false)
        body(&html, label: "Shared link")
        html.markup("<h1 id=\"title\">"); html.text(title); html.markup("</h1>\n")
        html.markup("<p>"); html.text(detail); html.markup("</p>\n")
        end(&html)
        return html.bytes
    }

    // MARK: Parts

    /// The document head: title, stylesheet, and for a live link its canonical
    /// URL and the Open Graph and Twitter card tags of a link preview.
    private static func head(_ html: inout HTMLWriter, title: String, description: String?, kind: String?,
                             canonicalURL: String?, image: String?, imageAlt: String?, indexable: Bool) {
        html.markup("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
        html.markup("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
        html.markup("<title>"); html.text(title); html.markup("</title>\n")
        // A public link may be indexed (no robots tag); anything else may not.
        if !indexable { html.markup("<meta name=\"robots\" content=\"noindex\">\n") }
        html.markup("<meta name=\"referrer\" content=\"no-referrer\">\n")
        html.markup("<link rel=\"stylesheet\" href=\""); html.text(stylesheetURL); html.markup("\">\n")
        if let description {
            html.markup("<meta name=\"description\" content=\""); html.text(description); html.markup("\">\n")
        }
        if let canonicalURL {
            html.markup("<link rel=\"canonical\" href=\""); html.text(canonicalURL); html.markup("\">\n")
            meta(&html, property: "og:url", canonicalURL)
        }
        if let kind {
            meta(&html, property: "og:type", kind)
            meta(&html, property: "og:title", title)
            if let description { meta(&html, property: "og:description", description) }
            html.markup("<meta name=\"twitter:card\" content=\"")
            html.text(image == nil ? "summary" : "summary_large_image")
            html.markup("\">\n")
            html.markup("<meta name=\"twitter:title\" content=\""); html.text(title); html.markup("\">\n")
            if let description {
                html.markup("<meta name=\"twitter:description\" content=\""); html.text(description); html.markup("\">\n")
            }
            if let image {
                meta(&html, property: "og:image", image)
                if let imageAlt { meta(&html, property: "og:image:alt", imageAlt) }
                html.markup("<meta name=\"twitter:image\" content=\""); html.text(image); html.markup("\">\n")
                if let imageAlt {
                    html.markup("<meta name=\"twitter:image:alt\" content=\""); html.text(imageAlt); html.markup("\">\n")
                }
            }
        }
        html.markup("</head>\n")
    }

    private static func meta(_ html: inout HTMLWriter, property: String, _ content: String) {
        html.markup("<meta property=\""); html.text(property)
        html.markup("\" content=\""); html.text(content); html.markup("\">\n")
    }

    private static func body(_ html: inout HTMLWriter, label: String) {
        html.markup("<body>\n<header>\n<p>"); html.text(label); html.markup("</p>\n</header>\n<main id=\"content\">\n")
    }

    private static func end(_ html: inout HTMLWriter) {
        html.markup("</main>\n<footer>\n<p>Shared from a music collection.</p>\n</footer>\n</body>\n</html>\n")
    }

    /// `m:ss` (minutes not capped at 59), rounded to the second; "–" when unknown.
    static func duration(_ seconds: Double?) -> String {
        guard let seconds, seconds.isFinite, seconds >= 0, seconds < 1e9 else { return "–" }
        let whole = Int(seconds.rounded())
        let rest = whole % 60
        return "\(whole / 60):\(rest < 10 ? "0" : "")\(rest)"
    }
}
