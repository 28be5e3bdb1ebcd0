import HTTPTypes
import MusicSupport

/// Writes a response's head in the CGI form libfcgi passes on: `Status:`,
/// header lines, a blank line. The body follows it as it is: copying it behind
/// the head cost a page of 50 members a 5 KB allocation and a copy
/// (docs/performance.md, "Reads that miss the read cache").
enum ResponseEncoder {
    static func encodeHead(_ response: FastCGIResponse) -> [UInt8] {
        var out: [UInt8] = []
        // The status line and about ten fields (nginx's log fields among them).
        out.reserveCapacity(512)
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
        return out
    }
}
