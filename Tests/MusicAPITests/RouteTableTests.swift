import Foundation
import HTTPTypes
@testable import MusicAPI
import MusicCore
import Testing

/// `Router.music` is the one table of routes: openapi.yaml and nginx's
/// `$music_allow` map are written by hand and checked against it here, both ways.
@Suite("The route table")
struct RouteTableTests {
    static let router = Router.music
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var endpoints: [(route: Route, endpoint: Endpoint)] {
        router.routes.flatMap { route in route.endpoints.map { (route, $0) } }
    }

    /// A path of `route` with every parameter set to `value` (or `values[name]`).
    static func samplePath(_ route: Route, value: String = "p_1", values: [PathParameter: String] = [:]) -> String {
        "/" + route.segments.map { segment in
            switch segment {
            case .literal(let literal): literal
            case .parameter(let name): values[name] ?? value
            }
        }.joined(separator: "/")
    }

    static func segments(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
    }

    // MARK: The table itself

    @Test("endpoint ids, patterns and methods per pattern are unique")
    func unique() {
        let ids = Self.endpoints.map(\.endpoint.id)
        #expect(Set(ids).count == ids.count)
        let patterns = Self.router.routes.map(\.pattern)
        #expect(Set(patterns).count == patterns.count)
        for route in Self.router.routes {
            let methods = route.endpoints.map(\.method.rawValue)
            #expect(Set(methods).count == methods.count, "\(route.pattern)")
            #expect(route.allow == methods.joined(separator: ", "))
        }
    }

    @Test("reads are GETs and answer in a read transaction; every other method writes")
    func transactionsFollowMethods() {
        for (route, endpoint) in Self.endpoints {
            switch endpoint.handler {
            case .open, .read: #expect(endpoint.method == .get, "\(endpoint.id) on \(route.pattern)")
            case .write: #expect(endpoint.method != .get, "\(endpoint.id) on \(route.pattern)")
            }
        }
    }

    @Test("exactly health, the OpenAPI document and the shared view need no key; the organization's reads are cacheable")
    func properties() {
        let open = Set(Self.endpoints.filter { !$0.endpoint.isAuthenticated }.map(\.endpoint.id))
        #expect(open == ["health", "openapi", "openShare"])
        let cacheable = Set(Self.endpoints.filter { $0.endpoint.isCacheable }.map(\.endpoint.id))
        #expect(cacheable == ["listCollections", "getCollection", "listCollectionTracks", "listTracks", "getTrack"])
        // Authenticated endpoints find their organization in the path.
        for (route, endpoint) in Self.endpoints where endpoint.isAuthenticated {
            #expect(route.segments.contains(.parameter(.organizationID)), "\(endpoint.id)")
        }
    }

    @Test("every endpoint is reached by its method on a path of its pattern, with the path's parameters")
    func dispatch() {
        for (route, endpoint) in Self.endpoints {
            let values = Dictionary(uniqueKeysWithValues: PathParameter.allCases.map { ($0, "v_\($0.rawValue)") })
            let path = Self.samplePath(route, values: values)
            guard case .found(let found, let foundRoute, _) = Self.router.match(method: endpoint.method, path: Self.segments(path)) else {
                Issue.record("\(endpoint.method) \(path) is not routed")
                continue
            }
            #expect(found.id == endpoint.id, "\(path)")
            let parameters = PathParameters(path: Self.segments(path), pattern: foundRoute.segments)
            for case .parameter(let name) in route.segments {
                #expect(parameters[name] == "v_\(name.rawValue)")
            }
            let named = Set(route.segments.compactMap { if case .parameter(let name) = $0 { name } else { nil } })
            for name in PathParameter.allCases where !named.contains(name) {
                #expect(parameters[name] == "", "\(name) on \(route.pattern)")
            }
            for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] where !route.endpoints.contains(where: { $0.method == method }) {
                guard case .methodNotAllowed(let refused, _) = Self.router.match(method: method, path: Self.segments(path)) else {
                    Issue.record("\(method) \(path) is not a 405")
                    continue
                }
                #expect(refused.pattern == route.pattern)
            }
        }
    }

    @Test("a 405 names the route's methods in Allow, through the API")
    func allowThroughTheAPI() throws {
        let app = try TestApp()
        for route in Self.router.routes {
            let path = Self.samplePath(route, value: app.orgA)
            let response = app.request(.put, path, key: app.aliceKey)
            #expect(response.status == 405, "\(path)")
            #expect(response.header("Allow") == route.allow, "\(path)")
        }
    }

    @Test("the cacheable reads, and only those, leave their answer in the read cache")
    func cacheableReadsAreKept() throws {
        let app = try TestApp()
        guard app.store.changeStamp() != nil else { return } // a store that cannot tell changes keeps nothing
        let collection = app.createCollection("Kept")
        _ = app.addTrack(app.tracksA[0], to: collection)
        let link = app.request(.post, app.collectionsPath() + "/\(collection)/share", key: app.aliceKey)
        let token = try #require(link["token"] as? String)
        let values: [PathParameter: String] = [.organizationID: app.orgA, .collectionID: collection, .trackID: app.tracksA[0], .token: token]
        for (route, endpoint) in Self.endpoints where endpoint.method == .get && route.segments.count >= 4 {
            let path = Self.samplePath(route, values: values)
            #expect(app.request(.get, path, key: app.aliceKey).status == 200, "\(path)")
            let stamp = try #require(app.store.changeStamp())
            let kept = app.api.readCache.lookup(ReadCache.key(keyHash: APIKey.hash(app.aliceKey), target: path), stamp: stamp)
            #expect((kept != nil) == endpoint.isCacheable, "\(endpoint.id)")
        }
    }

    // MARK: openapi.yaml

    /// (method, path, operationId, needs a key) of each endpoint under `paths:`.
    /// The document is block-style YAML: a path at two spaces, a method at four,
    /// its fields at six.
    static func documentedOperations() throws -> Set<String> {
        let text = try String(contentsOf: root.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try #require(lines.firstIndex(of: "paths:"))
        var endpoints: Set<String> = []
        var path: String?
        var current: (method: String, id: String?, open: Bool)?
        func finish() {
            if let current, let path { endpoints.insert("\(current.method) \(path) \(current.id ?? "-") open=\(current.open)") }
            current = nil
        }
        for line in lines[(start + 1)...] {
            if !line.isEmpty, !line.hasPrefix(" ") { break }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                finish()
                path = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":"),
                      ["get", "put", "post", "patch", "delete", "head", "options", "trace"].contains(line.trimmingCharacters(in: .whitespaces).dropLast()) {
                finish()
                current = (String(line.trimmingCharacters(in: .whitespaces).dropLast()).uppercased(), nil, false)
            } else if line.hasPrefix("      operationId: ") {
                current?.id = String(line.dropFirst("      operationId: ".count))
            } else if line == "      security: []" {
                current?.open = true
            } else if line.hasPrefix("    "), !line.hasPrefix("     ") {
                finish() // "parameters:" and other path-level fields
            }
        }
        finish()
        return endpoints
    }

    @Test("openapi.yaml documents each endpoint of the table (path, method, operationId, key or not), and nothing else")
    func openAPIAgrees() throws {
        let documented = try Self.documentedOperations()
        let implemented = Set(Self.endpoints.map { route, endpoint in
            "\(endpoint.method.rawValue) \(route.pattern) \(endpoint.id) open=\(!endpoint.isAuthenticated)"
        })
        #expect(documented.count == Self.endpoints.count, "the parser found \(documented.count) endpoints")
        #expect(documented.subtracting(implemented).sorted() == [], "documented, not routed")
        #expect(implemented.subtracting(documented).sorted() == [], "routed, not documented")
    }

    // MARK: nginx's $music_allow map

    struct MapEntry {
        let line: String
        let regex: NSRegularExpression
        let allow: String
    }

    /// The regex entries of `map $request_uri $music_allow` in nginx/music-common.conf,
    /// in order (nginx tries them in order), and its default.
    static func allowMap() throws -> (entries: [MapEntry], defaultValue: String) {
        let text = try String(contentsOf: root.appendingPathComponent("nginx/music-common.conf"), encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        let start = try #require(lines.firstIndex(of: "map $request_uri $music_allow {"))
        var entries: [MapEntry] = []
        var defaultValue: String?
        // "~REGEX" "VALUE"; (~* for case-insensitive), or default "VALUE";
        let entry = try NSRegularExpression(pattern: #"^\s*"(~\*?)(.*)"\s+"([^"]*)";\s*$"#)
        let fallback = try NSRegularExpression(pattern: #"^\s*default\s+"([^"]*)";\s*$"#)
        for line in lines[(start + 1)...] {
            if line.trimmingCharacters(in: .whitespaces) == "}" { break }
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("#") { continue }
            let range = NSRange(line.startIndex..., in: line)
            if let match = entry.firstMatch(in: line, range: range) {
                let group = { (index: Int) in String(line[Range(match.range(at: index), in: line)!]) }
                let options: NSRegularExpression.Options = group(1) == "~*" ? [.caseInsensitive] : []
                entries.append(MapEntry(line: line, regex: try NSRegularExpression(pattern: group(2), options: options), allow: group(3)))
            } else if let match = fallback.firstMatch(in: line, range: range) {
                defaultValue = String(line[Range(match.range(at: 1), in: line)!])
            } else {
                Issue.record("an entry of $music_allow this test cannot read: \(line)")
            }
        }
        return (entries, try #require(defaultValue))
    }

    /// Paths to try: each route's path with its parameters set to a plain value
    /// and to every literal of the table (so the order of the entries counts, as
    /// "shared" before an organization id), one segment more and one less, each
    /// bare and with a query.
    static func probes() -> [String] {
        let literals = Set(router.routes.flatMap { $0.segments.compactMap { if case .literal(let text) = $0 { text } else { nil } } })
        var paths: Set<String> = []
        for route in router.routes {
            let names = route.segments.compactMap { if case .parameter(let name) = $0 { name } else { nil } }
            var samples = [samplePath(route)]
            for name in names {
                for literal in literals { samples.append(samplePath(route, values: [name: literal])) }
            }
            for sample in samples {
                paths.insert(sample)
                paths.insert(sample + "/p_2")
                paths.insert(String(sample[..<sample.lastIndex(of: "/")!]))
            }
        }
        return paths.sorted().flatMap { [$0, $0 + "?limit=1&offset=0"] }
    }

    /// What the router answers a TRACE (or any method no route takes) to `target`
    /// with: the route's Allow, "" where no route takes the path.
    static func routerAllow(_ target: String) -> String {
        let path = String(target.prefix { $0 != "?" })
        for route in router.routes where route.matches(segments(path)) { return route.allow }
        return ""
    }

    @Test("nginx's Allow map gives every path the router's methods, and has no entry the router lacks")
    func nginxAllowMapAgrees() throws {
        let (entries, defaultValue) = try Self.allowMap()
        #expect(!entries.isEmpty)
        var used = Set<Int>()
        let probes = Self.probes()
        for target in probes {
            let range = NSRange(target.startIndex..., in: target)
            let index = entries.firstIndex { $0.regex.firstMatch(in: target, range: range) != nil }
            let allow = index.map { entries[$0].allow } ?? defaultValue
            #expect(allow == Self.routerAllow(target), "\(target): nginx's map says \"\(allow)\"")
            if let index { used.insert(index) }
        }
        for (index, entry) in entries.enumerated() where !used.contains(index) {
            Issue.record("no route reaches this entry of $music_allow: \(entry.line)")
        }
        #expect(defaultValue == "")
        #expect(probes.count > 2 * Self.router.routes.count)
    }
}
