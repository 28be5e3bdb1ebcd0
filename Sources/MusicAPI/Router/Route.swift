import HTTPTypes
import MusicCore
import MusicSupport

/// One path pattern and the endpoint each method reaches there. A class: a
/// match hands it on by one reference, not field by field.
final class Route: Sendable {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(PathParameter)
    }

    /// As written in the table and in openapi.yaml: `/v1/music/{organization_id}/...`.
    let pattern: String
    let segments: [Segment]
    let endpoints: [Endpoint]
    /// The `Allow` field of a 405 here: the methods, in the table's order.
    let allow: String
    /// `X-Music-Route: <pattern>`, the route nginx's access log shows: made once.
    let routeField: HTTPField
    /// The pattern as a JSON string, for the worker's log line: made once.
    let patternJSON: [UInt8]

    init(_ pattern: String, _ endpoints: [Endpoint]) {
        self.pattern = pattern
        segments = pattern.split(separator: "/").map { part in
            guard part.hasPrefix("{") else { return .literal(String(part)) }
            let name = String(part.dropFirst().dropLast())
            guard let parameter = PathParameter(rawValue: name) else {
                fatalError("route \(pattern): no path parameter is named \(name)")
            }
            return .parameter(parameter)
        }
        self.endpoints = endpoints
        allow = endpoints.map(\.method.rawValue).joined(separator: ", ")
        routeField = HTTPField(name: .musicRoute, value: pattern)
        patternJSON = .jsonString(pattern)
    }

    /// Whether `path` (decoded segments) fits the pattern.
    func matches(_ path: [String]) -> Bool {
        guard path.count == segments.count else { return false }
        for (segment, part) in zip(segments, path) {
            if case .literal(let literal) = segment, literal != part { return false }
        }
        return true
    }
}
