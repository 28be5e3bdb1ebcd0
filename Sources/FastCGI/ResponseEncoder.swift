import HTTPTypes
import MusicSupport

/// Writes a response in the CGI form libfcgi passes on: `Status:`, header
/// lines, a blank line, the body.
enum ResponseEncoder {
    static func encode(_ response: FastCGIResponse) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + response.body.count)
        out.append(contentsOf: "Status: ".utf8)
        out.appendUTF8(String(response.head.status.code))
        out.append(UInt8(ascii: " "))
        out.appendUTF8(response.head.status.reasonPhrase)
        out.append(contentsOf: "\r\n".utf8)
        var hasContentLength = false
        for field in response.head.headerFields {
            if field.name == .contentLength { hasContentLength = true }
            out.appendUTF8(field.name.canonicalName)
            out.append(contentsOf: ": ".utf8)
            out.appendUTF8(field.value)
            out.append(contentsOf: "\r\n".utf8)
        }
        if !hasContentLength {
            out.append(contentsOf: "Content-Length: ".utf8)
            out.appendUTF8(String(response.body.count))
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
        out.append(contentsOf: response.body)
        return out
    }
}
