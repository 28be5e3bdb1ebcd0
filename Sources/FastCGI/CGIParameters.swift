import HTTPTypes
#if canImport(Glibc)
import Glibc
#endif

/// The CGI parameters of one FastCGI request that make up its HTTP request.
///
/// The strings handed over by libfcgi die at the next `FCGX_Finish_r`, so what
/// is needed is copied into Swift values here, in one pass; parameters the
/// worker does not read (SERVER_SOFTWARE, REMOTE_PORT, ...) are not copied.
public struct CGIParameters: Sendable {
    public private(set) var method: String?
    public private(set) var requestURI: String?
    public private(set) var queryString: String?
    public private(set) var scriptName: String?
    public private(set) var https = false
    public private(set) var contentType: String?
    public private(set) var contentLengthText: String?
    public private(set) var requestIDText: String?
    public private(set) var host: String?
    /// `HTTP_*` parameters as header fields (`HTTP_X_API_KEY` -> `x-api-key`), in order.
    public private(set) var headers: [HTTPField] = []

    public init(pairs: [(name: String, value: String)]) {
        for (name, value) in pairs { add(name: name, value: value) }
    }

    /// Copies a NULL-terminated `NAME=value` array, as libfcgi's `envp`.
    public init(envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        guard var cursor = envp else { return }
        headers.reserveCapacity(12)
        while let entry = cursor.pointee {
            cursor += 1
            let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(entry).assumingMemoryBound(to: UInt8.self), count: strlen(entry))
            guard let first = bytes.first, first == UInt8(ascii: "H") || first == UInt8(ascii: "R")
                    || first == UInt8(ascii: "Q") || first == UInt8(ascii: "C") || first == UInt8(ascii: "D")
                    || first == UInt8(ascii: "S"),
                  let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[..<equals]), as: UTF8.self)
            let value = String(decoding: UnsafeBufferPointer(rebasing: bytes[(equals + 1)...]), as: UTF8.self)
            add(name: name, value: value)
        }
    }

    private mutating func add(name: String, value: String) {
        switch name {
        case "REQUEST_METHOD": method = value
        case "REQUEST_URI": requestURI = value
        case "QUERY_STRING": queryString = value
        case "SCRIPT_NAME", "DOCUMENT_URI": if scriptName == nil { scriptName = value }
        case "HTTPS": https = (value == "on" || value == "1")
        case "CONTENT_TYPE": contentType = value
        case "CONTENT_LENGTH": contentLengthText = value
        case "REQUEST_ID": requestIDText = value
        case "HTTP_HOST": host = value
        // httpoxy: a client's "Proxy:" header must never be taken for configuration;
        // the request id and the body's framing come from the web server only.
        case "HTTP_PROXY", "HTTP_X_REQUEST_ID", "HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH":
            break
        default:
            guard name.hasPrefix("HTTP_"), let fieldName = Self.fieldName(fromParameter: name) else { return }
            headers.append(HTTPField(name: fieldName, value: value))
        }
    }

    public enum ContentLength: Equatable, Sendable {
        case absent
        case declared(Int)
        case invalid
    }

    /// The declared body length: absent when missing or empty, invalid when it is
    /// not a non-negative decimal number.
    public var contentLength: ContentLength {
        guard let text = contentLengthText, !text.isEmpty else { return .absent }
        guard text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int(text) else {
            return .invalid
        }
        return .declared(value)
    }

    /// The request id the web server assigned (nginx's `$request_id`, passed as
    /// `REQUEST_ID`), or a fresh random one when it is absent or not a plain token.
    public var requestID: String {
        if let id = requestIDText, !id.isEmpty, id.utf8.count <= 64,
           id.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }) {
            return id
        }
        return Self.randomRequestID()
    }

    /// Builds the HTTP request: method, raw request target (path and query), and
    /// header fields from `HTTP_*`, `CONTENT_TYPE` and `CONTENT_LENGTH`. The request
    /// id is set as `X-Request-ID`. Returns `nil` when there is no valid method.
    public func httpRequest(requestID: String) -> HTTPRequest? {
        guard let methodText = method, let method = HTTPRequest.Method(methodText) else { return nil }
        var fields = HTTPFields()
        fields.reserveCapacity(headers.count + 3)
        fields.append(contentsOf: headers)
        if let contentType, !contentType.isEmpty { fields.append(HTTPField(name: .contentType, value: contentType)) }
        if let length = contentLengthText, !length.isEmpty { fields.append(HTTPField(name: .contentLength, value: length)) }
        fields.append(HTTPField(name: .xRequestID, value: requestID))
        var target = requestURI ?? ""
        if target.isEmpty {
            target = scriptName ?? "/"
            if let query = queryString, !query.isEmpty { target += "?" + query }
        }
        return HTTPRequest(method: method, scheme: https ? "https" : "http", authority: host, path: target, headerFields: fields)
    }

    /// `HTTP_X_API_KEY` -> `x-api-key`.
    static func fieldName(fromParameter parameter: String) -> HTTPField.Name? {
        let raw = parameter.utf8.dropFirst(5)
        guard !raw.isEmpty else { return nil }
        let name = String(decoding: raw.map { $0 == UInt8(ascii: "_") ? UInt8(ascii: "-") : $0 }, as: UTF8.self)
        return HTTPField.Name(name)
    }

    static func randomRequestID() -> String {
        var generator = SystemRandomNumberGenerator()
        let hex = Array("0123456789abcdef".utf8)
        return String(decoding: (0..<32).map { _ in hex[Int(generator.next() % 16)] }, as: UTF8.self)
    }
}

extension HTTPField.Name {
    /// `X-Request-ID`: the request id, echoed in every answer.
    public static let xRequestID = HTTPField.Name("X-Request-ID")!
}

private func isAlphanumeric(_ byte: UInt8) -> Bool {
    (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
}
