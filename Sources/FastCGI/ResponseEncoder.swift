import HTTPTypes
import MusicSupport

/// Writes a response in the CGI form libfcgi passes on: `Status:`, header
/// lines, a blank line, the body.
enum ResponseEncoder {
    static func encode(_ response: FastCGIResponse) -> [UInt8] {
        var out: [UInt8] = []
        // The head: the status line and about ten fields (nginx's log fields among them).
        out.reserveCapacity(512 + response.body.count)
        out.appendStatic("Status: ")
        out.appendUTF8(String(response.head.status.code))
        out.append(UInt8(ascii: " "))
        out.appendUTF8(response.head.status.reasonPhrase)
        out.appendStatic("\r\n")
        var hasContentLength = false
        for field in response.head.headerFields {
            if field.name == .contentLength { hasContentLength = true }
            // Two bytes appended one by one cost less than a copy of two.
            out.appendUTF8(field.name.canonicalName)
            out.append(UInt8(ascii: ":"))
            out.append(UInt8(ascii: " "))
            out.appendUTF8(field.value)
            out.append(UInt8(ascii: "\r"))
            out.append(UInt8(ascii: "\n"))
        }
        if !hasContentLength {
            out.appendStatic("Content-Length: ")
            out.appendUTF8(String(response.body.count))
            out.appendStatic("\r\n")
        }
        out.appendStatic("\r\n")
        out.append(contentsOf: response.body)
        return out
    }
}
