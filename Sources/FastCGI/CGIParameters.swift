import HTTPTypes
#if canImport(Glibc)
import Glibc
#endif

/// The CGI parameters of one FastCGI request that make up its HTTP request.
///
/// The strings handed over by libfcgi die at the next `FCGX_Finish_r`, so what
/// is needed is copied into Swift values here, in one pass; parameters the
/// worker does not read (SERVER_SOFTWARE, REMOTE_PORT, ...) are not copied.
package struct CGIParameters: Sendable {
    package private(set) var method: String?
    package private(set) var requestURI: String?
    package private(set) var queryString: String?
    package private(set) var scriptName: String?
    package private(set) var https = false
    package private(set) var contentType: String?
    package private(set) var contentLengthText: String?
    package private(set) var requestIDText: String?
    package private(set) var host: String?
    /// `HTTP_*` parameters as header fields (`HTTP_X_API_KEY` -> `x-api-key`), in order.
    package private(set) var headers: [HTTPField] = []

    package init(pairs: [(name: String, value: String)]) {
        for (name, value) in pairs {
            var name = name, value = value
            name.withUTF8 { name in value.withUTF8 { value in add(name: name, value: value) } }
        }
    }

    /// Copies a NULL-terminated `NAME=value` array, as libfcgi's `envp`.
    package init(envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        guard var cursor = envp else { return }
        headers.reserveCapacity(12)
        while let entry = cursor.pointee {
            cursor += 1
            let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(entry).assumingMemoryBound(to: UInt8.self), count: strlen(entry))
            guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { continue }
            add(name: UnsafeBufferPointer(rebasing: bytes[..<equals]), value: UnsafeBufferPointer(rebasing: bytes[(equals + 1)...]))
        }
    }

    /// Names are matched on their bytes and only the values kept become strings:
    /// nginx passes some twenty parameters per request, most of them unread.
    private mutating func add(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        func text() -> String { String(decoding: value, as: UTF8.self) }
        if Self.hasHTTPPrefix(name) {
            // httpoxy: a client's "Proxy:" header must never be taken for configuration;
            // the request id and the body's framing come from the web server only.
            if Self.matches(name, "HTTP_PROXY") || Self.matches(name, "HTTP_X_REQUEST_ID")
                || Self.matches(name, "HTTP_CONTENT_TYPE") || Self.matches(name, "HTTP_CONTENT_LENGTH") {
                return
            }
            if Self.matches(name, "HTTP_HOST") {
                host = text()
            } else if let fieldName = Self.fieldName(fromParameter: name) {
                headers.append(HTTPField(name: fieldName, value: text()))
            }
        } else if Self.matches(name, "REQUEST_METHOD") {
            method = text()
        } else if Self.matches(name, "REQUEST_URI") {
            requestURI = text()
        } else if Self.matches(name, "QUERY_STRING") {
            queryString = text()
        } else if Self.matches(name, "SCRIPT_NAME") || Self.matches(name, "DOCUMENT_URI") {
            if scriptName == nil { scriptName = text() }
        } else if Self.matches(name, "HTTPS") {
            https = Self.matches(value, "on") || Self.matches(value, "1")
        } else if Self.matches(name, "CONTENT_TYPE") {
            contentType = text()
        } else if Self.matches(name, "CONTENT_LENGTH") {
            contentLengthText = text()
        } else if Self.matches(name, "REQUEST_ID") {
            requestIDText = text()
        }
    }

    private static func matches(_ bytes: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        bytes.count == literal.utf8CodeUnitCount && (bytes.isEmpty || memcmp(bytes.baseAddress!, literal.utf8Start, bytes.count) == 0)
    }

    private static func hasHTTPPrefix(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        name.count > 5 && memcmp(name.baseAddress!, "HTTP_", 5) == 0
    }

    package enum ContentLength: Equatable, Sendable {
        case absent
        case declared(Int)
        case invalid
    }

    /// The declared body length: absent when missing or empty, invalid when it is
    /// not a non-negative decimal number.
    package var contentLength: ContentLength {
        guard let text = contentLengthText, !text.isEmpty else { return .absent }
        guard text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int(text) else {
            return .invalid
        }
        return .declared(value)
    }

    /// The request id the web server assigned (nginx's `$request_id`, passed as
    /// `REQUEST_ID`), or a fresh random one when it is absent or not a plain token.
    package var requestID: String {
        if let id = requestIDText, !id.isEmpty, id.utf8.count <= 64,
           id.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }) {
            return id
        }
        return Self.randomRequestID()
    }

    /// Builds the HTTP request: method, raw request target (path and query), and
    /// header fields from `HTTP_*`, `CONTENT_TYPE` and `CONTENT_LENGTH`. The request
    /// id is set as `X-Request-ID`. Returns `nil` when there is no valid method.
    package func httpRequest(requestID: String) -> HTTPRequest? {
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
    static func fieldName(fromParameter parameter: UnsafeBufferPointer<UInt8>) -> HTTPField.Name? {
        guard parameter.count > 5 else { return nil }
        let name = String(unsafeUninitializedCapacity: parameter.count - 5) { buffer in
            for (index, byte) in parameter[5...].enumerated() {
                switch byte {
                case UInt8(ascii: "_"): buffer[index] = UInt8(ascii: "-")
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): buffer[index] = byte + 32
                default: buffer[index] = byte
                }
            }
            return parameter.count - 5
        }
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
    package static let xRequestID = HTTPField.Name("X-Request-ID")!
}

private func isAlphanumeric(_ byte: UInt8) -> Bool {
    (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
}
