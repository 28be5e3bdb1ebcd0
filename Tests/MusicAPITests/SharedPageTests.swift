import Foundation
import HTTPTypes
@testable import MusicAPI
import MusicCore
import Testing

/// The shared link as a page: content negotiation, the page's DOM, link
/// previews, escaping and the headers of the HTML answer.
@Suite("Shared page")
struct SharedPageTests {
    /// What Chrome and Firefox send for a page.
    static let browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// Attribute breakers, tags and entities, in every value the page shows.
    static let hostile = #"<script>alert(1)</script> "double" 'single' & &amp; "><img src=x onerror=alert(2)> ' onmouseover='alert(3)"#

    let app: TestApp
    let collection: String
    /// Tracks with durations 0:59, 3:07, unknown, 62:05, 1:00, 0:00; 2 and 4 instrumental.
    let tracks: [String]

    init() throws {
        app = try TestApp()
        collection = app.createCollection("Road trip")
        tracks = try app.admin.createTracks([
            .init(title: "First light", durationSeconds: 59.4),
            .init(title: "Second wind", durationSeconds: 187, instrumental: true),
            .init(title: "Third", durationSeconds: nil),
            .init(title: "Fourth", durationSeconds: 3725, instrumental: true),
            .init(title: "Fifth", durationSeconds: 59.6),
            .init(title: "Sixth", durationSeconds: 0),
        ], organizationID: app.orgA, ownerID: app.alice).map(\.id)
        for track in tracks { _ = app.addTrack(track, to: collection) }
    }

    // MARK: Helpers

    func share(_ visibility: String = "link_only", collection: String? = nil) -> String {
        let response = app.request(.post, app.collectionsPath() + "/\(collection ?? self.collection)/share", key: app.aliceKey,
                                   json: #"{"visibility": "\#(visibility)"}"#)
        return response["token"] as? String ?? "missing"
    }

    func open(_ token: String, _ query: String = "", accept: String? = browserAccept, key: String? = nil) -> TestResponse {
        app.request(.get, "/v1/music/shared/\(token)\(query)", key: key, headers: accept.map { ["Accept": $0] } ?? [:])
    }

    func patchCollection(_ fields: [String: Any], collection: String? = nil) throws {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: fields), as: UTF8.self)
        let response = app.request(.patch, app.collectionsPath() + "/\(collection ?? self.collection)", key: app.aliceKey, json: json)
        #expect(response.status == 200, "\(response.bodyText)")
    }

    func isHTML(_ response: TestResponse) -> Bool { response.header("Content-Type") == "text/html; charset=utf-8" }

    func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    func fieldCount(_ response: TestResponse, _ name: String) -> Int {
        response.headers.filter { $0.name == HTTPField.Name(name)! }.count
    }

    /// The names of the tags in `html`, in order (`<name` and `</name`).
    static func tagNames(_ html: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: "</?([A-Za-z][A-Za-z0-9]*)")
        return regex.matches(in: html, range: NSRange(html.startIndex..., in: html)).map {
            String(html[Range($0.range(at: 1), in: html)!]).lowercased()
        }
    }

    /// The value of `attribute` on the first tag matching `tagPattern`, unescaped nowhere (as written).
    static func attribute(_ attribute: String, of tagPattern: String, in html: String) -> String? {
        let regex = try! NSRegularExpression(pattern: tagPattern + #"[^>]*\b"# + attribute + #"="([^"]*)""#)
        guard let match = regex.firstMatch(in: html, range: NSRange(html.startIndex..., in: html)) else { return nil }
        return String(html[Range(match.range(at: 1), in: html)!])
    }

    static let allowedTags: Set<String> = ["html", "head", "meta", "title", "link", "body", "header", "main", "footer",
                                           "p", "h1", "h2", "img", "ol", "li", "span", "nav", "a", "dl", "dt", "dd"]

    // MARK: Negotiation

    @Test("Accept decides: a preference for text/html gets the page, anything else the JSON view",
          arguments: [
              (nil, false), ("*/*", false), ("application/json", false), ("", false),
              (SharedPageTests.browserAccept, true),
              ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true),
              ("text/html", true), ("TEXT/HTML", true), ("text/html; charset=utf-8", true), ("text/*", true),
              ("application/json, text/html", false), ("text/html, application/json", false),
              ("text/*, application/json", false), ("*/*, text/html;q=1.0", false),
              ("text/html;q=0.9, application/json;q=0.8", true), ("application/json;q=0.9, text/html", true),
              ("text/html ; q=0.5", true), ("text/html;q=0", false), ("text/html;q=0.000", false),
              ("text/html;q=abc", false), ("text/html;q=1.5", false), ("text/html;q=0.1234", false), ("text/html;q=", false),
              ("*/*;q=0.1, text/html;q=0", false), ("text/html;q=0.5, */*;q=0.6", false),
              ("application/xhtml+xml", false), ("image/webp", false), ("html", false), (",,,", false),
              ("application/*;q=0.2, text/html;q=0.3", true), ("text/plain", false),
          ] as [(String?, Bool)])
    func negotiation(accept: String?, html: Bool) {
        #expect(MediaPreference.prefersHTML(accept) == html)
        let token = share()
        let answer = open(token, accept: accept)
        #expect(answer.status == 200)
        #expect(isHTML(answer) == html)
        #expect((answer.header("Content-Type") == "application/json") == !html)
        #expect(fieldCount(answer, "Vary") == 1 && answer.header("Vary") == "Accept")
    }

    @Test("q values parse as RFC 9110's qvalue")
    func weights() {
        for (text, expected) in [("0", 0), ("1", 1000), ("0.5", 500), ("0.123", 123), ("1.000", 1000), ("1.", 1000), ("0.", 0)] {
            #expect(MediaPreference.weight(Substring(text)) == expected, "\(text)")
        }
        for text in ["", "2", "1.001", "0.1234", "-0", ".5", "0,5", "1e0"] {
            #expect(MediaPreference.weight(Substring(text)) == nil, "\(text)")
        }
    }

    @Test("every answer of the route varies on Accept, once: 200, 404 and 422, page or JSON")
    func varyEverywhere() {
        let token = share()
        for accept in [Self.browserAccept, "application/json"] {
            for (target, status) in [(token, 200), (ShareToken.generate(), 404), (token + "?limit=0", 422)] {
                let answer = app.request(.get, "/v1/music/shared/\(target)", headers: ["Accept": accept])
                #expect(answer.status == status, "\(target) \(accept)")
                #expect(fieldCount(answer, "Vary") == 1 && answer.header("Vary") == "Accept", "\(target) \(accept)")
                #expect(isHTML(answer) == (accept == Self.browserAccept), "\(target) \(accept)")
            }
        }
    }

    @Test("the read cache never answers one representation for the other")
    func readCacheKeepsRepresentationsApart() {
        let token = share()
        // A key makes the request a read-cache candidate (probe before routing).
        for accept in [Self.browserAccept, "application/json", Self.browserAccept, "*/*", Self.browserAccept] {
            let answer = open(token, accept: accept, key: app.aliceKey)
            #expect(answer.status == 200)
            #expect(isHTML(answer) == (accept == Self.browserAccept), "\(accept)")
        }
        // An answer that varies with a request header is never kept: the cache key has none.
        var varying = APIResponse(head: HTTPResponse(status: .ok), body: [])
        #expect(ReadCache.keeps(varying))
        varying.head.headerFields.append(HTTPField(name: .vary, value: "Accept"))
        #expect(!ReadCache.keeps(varying))
        #expect(!ReadCache.keeps(APIResponse(head: HTTPResponse(status: .notFound), body: [])))
    }

    // MARK: Headers and statuses

    @Test("the HTML answer's headers: type, CSP, nosniff, no referrer, never stored, each once")
    func headers() {
        let token = share()
        for answer in [open(token), open(ShareToken.generate()), open(token, "?offset=x")] {
            #expect(answer.header("Content-Type") == "text/html; charset=utf-8")
            #expect(answer.header("Content-Security-Policy")
                    == "default-src 'none'; style-src 'self'; img-src https: http:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
            #expect(answer.header("X-Content-Type-Options") == "nosniff")
            #expect(answer.header("Referrer-Policy") == "no-referrer")
            #expect(answer.header("Cache-Control") == "no-store")
            #expect(answer.header("X-Request-ID") == "req_0123456789abcdef0123456789abcdef")
            for name in ["Content-Type", "Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "Cache-Control", "Vary"] {
                #expect(fieldCount(answer, name) == 1, "\(name)")
            }
            // No script, no inline style: what the CSP would refuse is not there to refuse.
            #expect(!answer.bodyText.contains("<script"))
            #expect(!answer.bodyText.contains("<style"))
            #expect(!answer.bodyText.contains(" style="))
            #expect(Set(Self.tagNames(answer.bodyText)).isSubset(of: Self.allowedTags))
        }
    }

    @Test("unknown, revoked, expired: the not-available page with the JSON view's 404; deleted: its page with 200")
    func statuses() {
        let expiring = app.request(.post, app.collectionsPath() + "/\(collection)/share", key: app.aliceKey,
                                   json: #"{"expires_in_days": 1}"#)["token"] as? String ?? ""
        let revoked = app.request(.post, app.collectionsPath() + "/\(collection)/share", key: app.aliceKey, json: "{}")
        _ = app.request(.delete, "/v1/music/\(app.orgA)/share/\(revoked["id"] as? String ?? "")", key: app.aliceKey)
        app.clock.advance(by: 86_400)
        for token in [ShareToken.generate(), "short", expiring, revoked["token"] as? String ?? ""] {
            let page = open(token)
            let json = open(token, accept: nil)
            #expect(page.status == 404 && json.status == 404, "\(token)")
            #expect(isHTML(page))
            #expect(page.bodyText.contains(#"<h1 id="title">This link is not available</h1>"#))
            #expect(page.header("X-Robots-Tag") == "noindex")
            #expect(page.bodyText.contains(#"<meta name="robots" content="noindex">"#))
            // A token that opens nothing is not written back.
            #expect(!page.bodyText.contains(token))
            #expect(!page.bodyText.contains("og:"))
        }
        let token = share("public")
        _ = app.request(.delete, app.collectionsPath() + "/\(collection)", key: app.aliceKey)
        let page = open(token)
        let json = open(token, accept: nil)
        #expect(page.status == 200 && json.status == 200)
        #expect(json["available"] as? Bool == false)
        #expect(page.bodyText.contains(#"<h1 id="title">This collection is no longer available</h1>"#))
        #expect(count("<h1", in: page.bodyText) == 1)
        #expect(page.header("X-Robots-Tag") == "noindex")
        #expect(!page.bodyText.contains("Road trip"))
    }

    // MARK: The page

    @Test("the collection page: name, description, cover with alt, tracks in order with m:ss and Instrumental marks")
    func collectionPage() throws {
        try patchCollection(["description": "Songs for the A1.\nSecond line.", "cover_image_url": "https://img.example/c.png?s=1&t=2"])
        let order = [1, 0, 2, 3, 4, 5].map { "\"\(tracks[$0])\"" }.joined(separator: ", ")
        let reordered = app.request(.patch, app.collectionsPath() + "/\(collection)/order", key: app.aliceKey,
                                    json: #"{"ordered_track_ids": [\#(order)]}"#)
        #expect(reordered.status == 200, "\(reordered.bodyText)")
        let page = open(share())
        let html = page.bodyText
        #expect(page.status == 200)
        #expect(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\">"))
        #expect(count("<h1", in: html) == 1)
        #expect(html.contains(#"<h1 id="title">Road trip</h1>"#))
        #expect(html.contains("<p id=\"description\">Songs for the A1.\nSecond line.</p>"))
        #expect(html.contains(#"<img id="cover" src="https://img.example/c.png?s=1&amp;t=2" alt="Cover of Road trip""#))
        for landmark in ["<header>", #"<main id="content">"#, "<footer>", "</header>", "</main>", "</footer>"] {
            #expect(count(landmark, in: html) == 1, "\(landmark)")
        }
        let regex = try NSRegularExpression(pattern: #"<li class="track" data-position="(\d+)"><span class="track-title">([^<]*)</span> <span class="track-duration">([^<]*)</span>( <span class="track-instrumental">Instrumental</span>)?</li>"#)
        let rows = regex.matches(in: html, range: NSRange(html.startIndex..., in: html)).map { match in
            (1...4).map { index -> String in
                let range = match.range(at: index)
                return range.location == NSNotFound ? "" : String(html[Range(range, in: html)!])
            }
        }
        #expect(rows == [
            ["0", "Second wind", "3:07", " <span class=\"track-instrumental\">Instrumental</span>"],
            ["1", "First light", "0:59", ""],
            ["2", "Third", "–", ""],
            ["3", "Fourth", "62:05", " <span class=\"track-instrumental\">Instrumental</span>"],
            ["4", "Fifth", "1:00", ""],
            ["5", "Sixth", "0:00", ""],
        ])
        #expect(html.contains(#"<ol id="tracks" aria-labelledby="tracks-heading" start="1">"#))
        // Six tracks fit the default page: no paging links.
        #expect(!html.contains(#"id="pages""#))
        #expect(html.contains(#"<link rel="stylesheet" href="../shared-assets/shared-page.css?v=\#(SharedPage.stylesheetVersion)">"#))
    }

    @Test("paged as the JSON view, with plain prev and next links; bad limit or offset: a 422 page")
    func paging() {
        let token = share()
        func positions(_ html: String) -> [String] {
            let regex = try! NSRegularExpression(pattern: #"data-position="(\d+)""#)
            return regex.matches(in: html, range: NSRange(html.startIndex..., in: html)).map { String(html[Range($0.range(at: 1), in: html)!]) }
        }
        let first = open(token, "?limit=2").bodyText
        #expect(positions(first) == ["0", "1"])
        #expect(first.contains(#"<nav id="pages" aria-label="Pages">"#))
        #expect(Self.attribute("href", of: #"<a rel="next""#, in: first) == "?limit=2&amp;offset=2")
        #expect(!first.contains(#"rel="prev""#))
        let middle = open(token, "?limit=2&offset=2").bodyText
        #expect(positions(middle) == ["2", "3"])
        #expect(middle.contains(#"start="3""#))
        #expect(Self.attribute("href", of: #"<a rel="prev""#, in: middle) == "?limit=2&amp;offset=0")
        #expect(Self.attribute("href", of: #"<a rel="next""#, in: middle) == "?limit=2&amp;offset=4")
        let last = open(token, "?limit=2&offset=4").bodyText
        #expect(positions(last) == ["4", "5"])
        #expect(!last.contains(#"rel="next""#))
        #expect(Self.attribute("href", of: #"<a rel="prev""#, in: last) == "?limit=2&amp;offset=2")
        let uneven = open(token, "?limit=5&offset=1").bodyText
        #expect(Self.attribute("href", of: #"<a rel="prev""#, in: uneven) == "?limit=5&amp;offset=0")
        #expect(!uneven.contains(#"rel="next""#))
        let beyond = open(token, "?offset=100")
        #expect(beyond.status == 200 && positions(beyond.bodyText).isEmpty)
        #expect(beyond.bodyText.contains("No tracks on this page."))
        #expect(Self.attribute("href", of: #"<a rel="prev""#, in: beyond.bodyText) == "?limit=50&amp;offset=50")
        // The page's default: 50 tracks a page.
        #expect(PageLimits.sharedPage.defaultLimit == 50)
        #expect(PageLimits.sharedPage.maximum == PageLimits.collectionTracks.maximum)
        #expect(open(token, "?limit=500").status == 200)
        for query in ["?limit=0", "?limit=501", "?limit=", "?limit=x", "?offset=-1", "?offset=1000000001", "?offset=1.5"] {
            let page = open(token, query)
            #expect(page.status == 422, "\(query)")
            #expect(page.status == open(token, query, accept: nil).status, "\(query)")
            #expect(isHTML(page))
            #expect(page.bodyText.contains(#"<h1 id="title">This page does not exist</h1>"#))
            #expect(!page.bodyText.contains(token))
        }
    }

    @Test("page-sized collections: the next link appears only when a track follows")
    func exactPage() {
        let token = share()
        let full = open(token, "?limit=6").bodyText
        #expect(!full.contains(#"id="pages""#))
        #expect(open(token, "?limit=5").bodyText.contains(#"rel="next""#))
    }

    @Test("the track page: title, duration and licence facts in plain words")
    func trackPage() {
        let link = ShareLink(id: "mslink_1", tokenHash: "", collectionID: "", organizationID: "o", ownerID: "u",
                             visibility: .linkOnly, expiresAt: nil, createdAt: Timestamp(secondsSince1970: 0))
        let track = Track(id: "trk_1", organizationID: "o", ownerID: "u", title: "Rain & <thunder>", measuredDurationSeconds: 125.2,
                          instrumental: true, licenceClass: "non_commercial", licenceVersion: "2.1", createdAt: Timestamp(secondsSince1970: 0))
        let paging = SharedPage.Paging(limit: 50, offset: 0, hasMore: false)
        let html = String(decoding: SharedPage.render(SharedView(link: link, content: .track(track)), paging: paging,
                                                      canonicalURL: "https://music.example/v1/music/shared/T"), as: UTF8.self)
        #expect(html.contains(#"<h1 id="title">Rain &amp; &lt;thunder&gt;</h1>"#))
        #expect(html.contains(#"<dl id="facts">"#))
        for (name, value) in [("Duration", "2:05"), ("Instrumental", "Yes"), ("Licence class", "non_commercial"), ("Licence version", "2.1"),
                              ("Commercial use", "Not allowed"), ("Attribution", "Not required")] {
            #expect(html.contains("<dt>\(name)</dt><dd>\(value)</dd>"), "\(name)")
        }
        #expect(html.contains(#"<meta property="og:type" content="music.song">"#))
        var attributed = track
        attributed.licenceClass = "cc_by"
        attributed.instrumental = false
        attributed.measuredDurationSeconds = nil
        let other = String(decoding: SharedPage.render(SharedView(link: link, content: .track(attributed)), paging: paging,
                                                       canonicalURL: "https://music.example/v1/music/shared/T"), as: UTF8.self)
        for (name, value) in [("Duration", "–"), ("Instrumental", "No, it has vocals"), ("Commercial use", "Allowed"),
                              ("Attribution", "Required: credit the creator")] {
            #expect(other.contains("<dt>\(name)</dt><dd>\(value)</dd>"), "\(name)")
        }
        let gone = String(decoding: SharedPage.render(SharedView(link: link, content: .track(nil)), paging: paging,
                                                      canonicalURL: "https://music.example/v1/music/shared/T"), as: UTF8.self)
        #expect(gone.contains(#"<h1 id="title">This track is no longer available</h1>"#))
        #expect(!gone.contains("shared/T"))
    }

    @Test("a track share opens as the track page; once the track is deleted, its no-longer-available page")
    func trackShare() throws {
        let track = try app.admin.createTracks([
            .init(title: "Rain <study>", durationSeconds: 169.5, instrumental: true, licenceClass: "cc_by", licenceVersion: "2.1"),
        ], organizationID: app.orgA, ownerID: app.alice)[0]
        let link = app.request(.post, "/v1/music/\(app.orgA)/tracks/\(track.id)/share", key: app.aliceKey,
                               json: #"{"visibility": "public"}"#)
        let token = link["token"] as? String ?? ""
        let page = open(token)
        let html = page.bodyText
        #expect(page.status == 200 && isHTML(page))
        #expect(html.contains(#"<h1 id="title">Rain &lt;study&gt;</h1>"#))
        for (name, value) in [("Duration", "2:50"), ("Instrumental", "Yes"), ("Licence class", "cc_by"), ("Licence version", "2.1"),
                              ("Commercial use", "Allowed"), ("Attribution", "Required: credit the creator")] {
            #expect(html.contains("<dt>\(name)</dt><dd>\(value)</dd>"), "\(name)")
        }
        #expect(html.contains(#"<meta property="og:url" content="https://localhost/v1/music/shared/\#(token)">"#))
        #expect(count(token, in: html) == 2)
        #expect(page.header("X-Robots-Tag") == nil)
        #expect(open(token, accept: "application/json")["kind"] as? String == "track")
        _ = try app.admin.deleteTrack(id: track.id)
        let gone = open(token)
        #expect(gone.status == 200 && open(token, accept: nil).status == 200)
        #expect(gone.bodyText.contains(#"<h1 id="title">This track is no longer available</h1>"#))
        #expect(!gone.bodyText.contains("Rain") && !gone.bodyText.contains(token))
        #expect(gone.header("X-Robots-Tag") == "noindex")
    }

    @Test("durations: m:ss rounded to the second, minutes past 59, a dash when unknown")
    func durations() {
        let cases: [(Double?, String)] = [(0, "0:00"), (59.4, "0:59"), (59.5, "1:00"), (187, "3:07"), (3725, "62:05"),
                                          (86_400, "1440:00"), (nil, "–"), (.nan, "–"), (.infinity, "–"), (-1, "–")]
        for (seconds, text) in cases { #expect(SharedPage.duration(seconds) == text, "\(String(describing: seconds))") }
    }

    // MARK: Link previews

    @Test("link previews: Open Graph and Twitter tags, canonical URL; noindex for link_only, indexable when public")
    func previews() throws {
        try patchCollection(["description": "Long drives.", "cover_image_url": "https://img.example/cover.jpg"])
        let linkOnly = share()
        let page = open(linkOnly)
        let html = page.bodyText
        let url = "https://localhost/v1/music/shared/\(linkOnly)"
        #expect(html.contains(#"<link rel="canonical" href="\#(url)">"#))
        for (property, content) in [("og:url", url), ("og:type", "music.playlist"), ("og:title", "Road trip"),
                                    ("og:description", "Long drives."), ("og:image", "https://img.example/cover.jpg"),
                                    ("og:image:alt", "Cover of Road trip")] {
            #expect(html.contains(#"<meta property="\#(property)" content="\#(content)">"#), "\(property)")
        }
        for (name, content) in [("twitter:card", "summary_large_image"), ("twitter:title", "Road trip"),
                                ("twitter:description", "Long drives."), ("twitter:image", "https://img.example/cover.jpg"),
                                ("description", "Long drives.")] {
            #expect(html.contains(#"<meta name="\#(name)" content="\#(content)">"#), "\(name)")
        }
        #expect(html.contains("<title>Road trip</title>"))
        #expect(html.contains(#"<meta name="robots" content="noindex">"#))
        #expect(page.header("X-Robots-Tag") == "noindex")

        let publicPage = open(share("public"))
        #expect(!publicPage.bodyText.contains("noindex"))
        #expect(publicPage.header("X-Robots-Tag") == nil)

        // Without a cover: no image tags, a small card.
        try patchCollection(["cover_image_url": NSNull(), "description": NSNull()])
        let plain = open(share("public")).bodyText
        #expect(!plain.contains("og:image") && !plain.contains("twitter:image") && !plain.contains("<img"))
        #expect(plain.contains(#"<meta name="twitter:card" content="summary">"#))
        #expect(plain.contains(#"<meta property="og:description" content="A shared music collection.">"#))
        #expect(!plain.contains(#"id="description""#))
    }

    @Test("the token is written only in the canonical URL")
    func tokenOnlyInCanonicalURL() throws {
        try patchCollection(["description": "x", "cover_image_url": "https://img.example/cover.jpg"])
        for visibility in ["link_only", "public"] {
            let token = share(visibility)
            for query in ["", "?limit=2", "?limit=2&offset=2", "?offset=4&limit=2"] {
                let html = open(token, query).bodyText
                let canonical = "https://localhost/v1/music/shared/\(token)"
                #expect(count(token, in: html) == 2, "\(query)")
                #expect(count(canonical, in: html) == 2, "\(query)")
                #expect(!html.replacingOccurrences(of: canonical, with: "").contains(token), "\(query)")
            }
        }
    }

    // MARK: Safe by construction

    @Test("every value from the database is escaped, in text and in attributes")
    func escaping() throws {
        let hostile = Self.hostile
        let escaped = HTML.escape(hostile)
        #expect(escaped == "&lt;script&gt;alert(1)&lt;/script&gt; &quot;double&quot; &#39;single&#39; &amp; &amp;amp; &quot;&gt;&lt;img src=x onerror=alert(2)&gt; &#39; onmouseover=&#39;alert(3)")
        let named = app.createCollection("placeholder")
        try patchCollection(["name": hostile, "description": hostile, "cover_image_url": "https://img.example/a.png?q=\"><script>"],
                            collection: named)
        let track = try app.admin.createTracks([.init(title: hostile, durationSeconds: 10, instrumental: true)],
                                               organizationID: app.orgA, ownerID: app.alice)[0]
        _ = app.addTrack(track.id, to: named)
        let page = open(share("public", collection: named))
        let html = page.bodyText
        #expect(page.status == 200)
        #expect(!html.contains(hostile))
        #expect(!html.contains("<script"))
        #expect(!html.contains("onerror=alert(2)>"))
        #expect(!html.contains("<img src=x"))
        #expect(Set(Self.tagNames(html)).isSubset(of: Self.allowedTags))
        // Each place the name goes: title, h1, og and twitter titles, the cover's alt.
        #expect(html.contains("<title>\(escaped)</title>"))
        #expect(html.contains(#"<h1 id="title">\#(escaped)</h1>"#))
        #expect(html.contains(#"<p id="description">\#(escaped)</p>"#))
        #expect(html.contains(#"<meta property="og:title" content="\#(escaped)">"#))
        #expect(html.contains(#"<meta name="twitter:title" content="\#(escaped)">"#))
        #expect(html.contains(#"<meta property="og:description" content="\#(escaped)">"#))
        #expect(html.contains(#"<meta name="description" content="\#(escaped)">"#))
        #expect(html.contains(#"<span class="track-title">\#(escaped)</span>"#))
        // Every attribute value is quoted and holds no quote or angle bracket.
        let attributes = try NSRegularExpression(pattern: #"\s([a-z:-]+)=("[^"]*"|'[^']*'|[^\s>]+)"#)
        for tag in try NSRegularExpression(pattern: "<[a-zA-Z][^>]*>").matches(in: html, range: NSRange(html.startIndex..., in: html)) {
            let text = String(html[Range(tag.range, in: html)!])
            for attribute in attributes.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let name = String(text[Range(attribute.range(at: 1), in: text)!])
                let value = String(text[Range(attribute.range(at: 2), in: text)!])
                #expect(!name.hasPrefix("on"), "\(text)")
                #expect(value.hasPrefix("\"") && value.hasSuffix("\""), "\(text)")
                #expect(!value.dropFirst().dropLast().contains(where: { "\"<>'".contains($0) }), "\(text)")
            }
        }
    }

    @Test("a cover URL that is not http(s) is left out, whatever reached the database")
    func coverURLs() {
        let link = ShareLink(id: "mslink_1", tokenHash: "", collectionID: "c", organizationID: "o", ownerID: "u",
                             visibility: .public, expiresAt: nil, createdAt: Timestamp(secondsSince1970: 0))
        func page(_ cover: String?) -> String {
            let collection = MusicCollection(id: "c", organizationID: "o", ownerID: "u", name: "N", coverImageURL: cover,
                                             createdAt: Timestamp(secondsSince1970: 0), updatedAt: Timestamp(secondsSince1970: 0))
            return String(decoding: SharedPage.render(SharedView(link: link, content: .collection(collection, tracks: [])),
                                                      paging: .init(limit: 50, offset: 0, hasMore: false),
                                                      canonicalURL: "https://music.example/v1/music/shared/T"), as: UTF8.self)
        }
        for refused in ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:image/png;base64,AAAA", "//evil.example/x.png",
                        "/relative.png", "http://", "https://a.example/x y.png", "vbscript:x", " https://a.example/x.png"] {
            let html = page(refused)
            #expect(!html.contains("<img"), "\(refused)")
            #expect(!html.contains("og:image") && !html.contains("twitter:image"), "\(refused)")
        }
        for accepted in ["https://a.example/x.png", "HTTP://a.example/x.png", "https://a.example/x.png?a=\"><script>"] {
            let html = page(accepted)
            #expect(html.contains(#"<img id="cover" src="\#(HTML.escape(accepted))""#), "\(accepted)")
            #expect(html.contains(#"<meta property="og:image" content="\#(HTML.escape(accepted))">"#), "\(accepted)")
            #expect(!html.contains("<script"))
        }
        #expect(page(nil).contains("This collection has no tracks yet."))
    }

    // MARK: The stylesheet

    @Test("the page links the stylesheet nginx serves, versioned by the file's SHA-256")
    func stylesheet() throws {
        let css = try String(contentsOf: Self.root.appendingPathComponent("nginx/static/shared-page.css"), encoding: .utf8)
        #expect(css.utf8.allSatisfy { $0 < 0x80 }, "ASCII only")
        // SHA-256 in hex (the API key hash is exactly that).
        #expect(SharedPage.stylesheetVersion == APIKey.hash(css),
                "nginx/static/shared-page.css changed: set SharedPage.stylesheetVersion to \(APIKey.hash(css))")
        let server = try String(contentsOf: Self.root.appendingPathComponent("nginx/music-server.conf"), encoding: .utf8)
        #expect(server.contains("location = \(SharedPage.stylesheetPath) {"))
        #expect(server.contains("alias @STATIC@/shared-page.css;"))
        #expect(server.contains("add_header Cache-Control $music_stylesheet_cache;"))
        // A year under the file's own version only; the rendered SHA-256 is the file's (deploy/lib.sh).
        let common = try String(contentsOf: Self.root.appendingPathComponent("nginx/music-common.conf"), encoding: .utf8)
        #expect(common.contains(#""~^@STYLESHEET_SHA256@$" "public, max-age=31536000, immutable";"#))
        #expect(css.contains("overflow-wrap: anywhere"))
    }
}
