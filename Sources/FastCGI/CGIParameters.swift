import HTTPTypes

/// Turns the CGI parameters of one FastCGI request into an `HTTPRequest`.
///
/// The strings handed over by libfcgi die at the next `FCGX_Finish_r`, so
/// everything is copied into Swift values here.
public struct CGIParameters: Sendable {
    /// The parameters in the order the web server sent them.
    public private(set) var pairs: [(name: String, value: String)]

    public init(pairs: [(name: String, value: String)]) {
        self.pairs = pairs
    }

    /// Copies a NULL-terminated `NAME=value` array, as libfcgi's `envp`.
    public init(envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        var pairs: [(name: String, value: String)] = []
        pairs.reserveCapacity(32)
        guard var cursor = envp else {
            self.pairs = pairs
            return
        }
        while let entry = cursor.pointee {
            let raw = UnsafeRawPointer(entry).assumingMemoryBound(to: UInt8.self)
            let length = strlenOf(raw)
            let bytes = UnsafeBufferPointer(start: raw, count: length)
            if let equals = bytes.firstIndex(of: UInt8(ascii: "=")) {
                let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[..<equals]), as: UTF8.self)
                let value = String(decoding: UnsafeBufferPointer(rebasing: bytes[(equals + 1)...]), as: UTF8.self)
                pairs.append((name, value))
            }
            cursor += 1
        }
        self.pairs = pairs
    }

    /// The value of the first parameter called `name`.
    public subscript(name: String) -> String? {
        pairs.first { $0.name == name }?.value
    }

    /// The declared body length: `nil` when absent or empty, `.invalid` when it is
    /// not a non-negative decimal number.
    public var contentLength: ContentLength {
        guard let text = self["CONTENT_LENGTH"], !text.isEmpty else { return .absent }
        guard text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int(text) else {
            return .invalid
        }
        return .declared(value)
    }

    public enum ContentLength: Equatable, Sendable {
        case absent
        case declared(Int)
        case invalid
    }

    /// The request id the web server assigned (nginx's `$request_id`, passed as
    /// `REQUEST_ID`), or a fresh random one when it is absent or not a plain token.
    public var requestID: String {
        if let id = self["REQUEST_ID"], !id.isEmpty, id.utf8.count <= 64,
           id.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }) {
            return id
        }
        return Self.randomRequestID()
    }

    /// Builds the HTTP request: method, raw request target (path and query),
    /// and header fields from `HTTP_*`, `CONTENT_TYPE` and `CONTENT_LENGTH`.
    /// The request id is set as `X-Request-ID`, replacing any the client sent.
    /// `HTTP_PROXY` is dropped (httpoxy). Returns `nil` when there is no valid method.
    public func httpRequest(requestID: String) -> HTTPRequest? {
        guard let methodText = self["REQUEST_METHOD"], let method = HTTPRequest.Method(methodText) else {
            return nil
        }
        var fields = HTTPFields()
        fields.reserveCapacity(pairs.count)
        var target: String?
        var queryString: String?
        var scriptName: String?
        var https = false
        var host: String?
        for (name, value) in pairs {
            switch name {
            case "REQUEST_URI": target = value
            case "QUERY_STRING": queryString = value
            case "DOCUMENT_URI", "SCRIPT_NAME": if scriptName == nil { scriptName = value }
            case "HTTPS": https = (value == "on" || value == "1")
            case "CONTENT_TYPE":
                if !value.isEmpty { fields.append(HTTPField(name: .contentType, value: value)) }
            case "CONTENT_LENGTH":
                if !value.isEmpty { fields.append(HTTPField(name: .contentLength, value: value)) }
            case "HTTP_HOST": host = value
            case "HTTP_PROXY", "HTTP_X_REQUEST_ID", "HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH":
                continue
            default:
                guard name.hasPrefix("HTTP_"), let fieldName = Self.fieldName(fromParameter: name) else { continue }
                fields.append(HTTPField(name: fieldName, value: value))
            }
        }
        fields.append(HTTPField(name: .xRequestID, value: requestID))
        if target == nil || target?.isEmpty == true {
            let path = scriptName ?? "/"
            if let query = queryString, !query.isEmpty { target = path + "?" + query } else { target = path }
        }
        return HTTPRequest(
            method: method,
            scheme: https ? "https" : "http",
            authority: host,
            path: target,
            headerFields: fields
        )
    }

    /// `HTTP_X_API_KEY` -> `x-api-key`.
    static func fieldName(fromParameter parameter: String) -> HTTPField.Name? {
        let raw = parameter.dropFirst(5)
        guard !raw.isEmpty else { return nil }
        var name = ""
        name.reserveCapacity(raw.utf8.count)
        for scalar in raw.unicodeScalars {
            if scalar == "_" { name.append("-") } else { name.unicodeScalars.append(scalar) }
        }
        return HTTPField.Name(name)
    }

    static func randomRequestID() -> String {
        var generator = SystemRandomNumberGenerator()
        let hex: [Character] = Array("0123456789abcdef")
        return String((0..<32).map { _ in hex[Int(generator.next() % 16)] })
    }
}

extension HTTPField.Name {
    /// `X-Request-ID`: the request id, echoed in every answer.
    public static let xRequestID = HTTPField.Name("X-Request-ID")!
}

private func isAlphanumeric(_ byte: UInt8) -> Bool {
    (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
}

private func strlenOf(_ pointer: UnsafePointer<UInt8>) -> Int {
    var length = 0
    while pointer[length] != 0 { length += 1 }
    return length
}
