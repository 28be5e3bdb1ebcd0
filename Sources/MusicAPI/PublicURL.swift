/// The public base URL of the service (`MUSIC_PUBLIC_URL`, music-fcgi
/// `--public-url`): what share links are built on.
package enum PublicURL {
    /// Without a setting: the HTTPS address of a host serving on port 443
    /// (deploy/lib.sh gives a local stack its own HTTPS port;
    /// Tests/Docs/test_docs.py checks the two agree).
    package static let defaultValue = "https://localhost"

    /// Whether a validated URL names this machine (localhost, 127.0.0.0/8,
    /// [::1]): links on it open nowhere else.
    package static func isLoopback(_ url: String) -> Bool {
        guard let start = url.range(of: "://")?.upperBound else { return false }
        let authority = url[start...].prefix { $0 != "/" }
        let host = authority.hasPrefix("[") ? authority.prefix { $0 != "]" } + "]" : authority.prefix { $0 != ":" }
        return host.lowercased() == "localhost" || host.hasPrefix("127.") || host == "[::1]"
    }

    package struct Invalid: Error, CustomStringConvertible {
        package let description: String
    }

    /// `text` checked and normalised: an absolute http or https URL with a
    /// host, optionally a port and a path, without user information, query or
    /// fragment, and of URL characters only (the value goes into JSON and, on the
    /// shared page, into HTML attributes). The scheme is lowercased and trailing
    /// slashes are dropped, so a path is appended with one "/".
    package static func validated(_ text: String) throws(Invalid) -> String {
        func invalid(_ why: String) -> Invalid { Invalid(description: "the public URL \(why)") }
        let lowered = text.lowercased()
        let scheme: String
        if lowered.hasPrefix("https://") { scheme = "https" } else if lowered.hasPrefix("http://") { scheme = "http" } else {
            throw invalid("must start with https:// or http://")
        }
        var rest = Substring(text.dropFirst(scheme.count + 3))
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        // RFC 3986's unreserved and sub-delimiter characters, ":", "/", "%" and
        // the brackets of an IPv6 host; no "?", "#" or "@".
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:/%[]".unicodeScalars)
        for scalar in rest.unicodeScalars where !allowed.contains(scalar) {
            switch scalar {
            case "?": throw invalid("must not have a query")
            case "#": throw invalid("must not have a fragment")
            case "@": throw invalid("must not hold user information")
            default: throw invalid("holds a character that is not allowed in a URL")
            }
        }
        let authority = rest.prefix { $0 != "/" }
        var host = Substring(authority)
        if let colon = authority.lastIndex(of: ":"), !authority[colon...].contains("]") {
            host = authority[..<colon]
            let port = authority[authority.index(after: colon)...]
            guard port.allSatisfy({ ("0"..."9").contains($0) }), let number = Int(port), (1...65_535).contains(number) else {
                throw invalid("has a port that is not a number from 1 to 65535")
            }
        }
        guard !host.isEmpty else { throw invalid("must name a host") }
        // A DNS name or IPv4 address, or an IPv6 address in brackets; brackets
        // nowhere else: a link on any other host would be a broken link.
        let bracketed = host.count > 2 && host.first == "[" && host.last == "]"
            && host.dropFirst().dropLast().allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
        let named = host.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }
            && host.first != "." && host.first != "-"
        guard bracketed || named else { throw invalid("must name a host: a DNS name, an IPv4 address or an IPv6 address in brackets") }
        guard !rest[authority.endIndex...].contains(where: { $0 == "[" || $0 == "]" }) else {
            throw invalid("holds a bracket outside an IPv6 host")
        }
        return scheme + "://" + rest
    }
}
