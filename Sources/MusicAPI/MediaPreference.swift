/// What an `Accept` header prefers between the two answers of the shared view:
/// the HTML page or the JSON view (RFC 9110, section 12.5.1).
///
/// Each of `text/html` and `application/json` gets the weight (`q`) of the most
/// specific range that matches it (`text/html` over `text/*` over `*/*`; of
/// several equally specific, the highest). The page is chosen only when HTML's
/// weight is above zero and above JSON's: a browser's
/// `text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8` gets the
/// page; no `Accept`, `*/*`, `application/json`, and equal weights
/// (`application/json, text/html`) get JSON, the API's own answer. A range whose
/// `q` is not a valid weight is ignored.
enum MediaPreference {
    static func prefersHTML(_ accept: String?) -> Bool {
        guard let accept else { return false }
        var html = Weight(type: "text", subtype: "html")
        var json = Weight(type: "application", subtype: "json")
        for range in accept.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true) {
            guard let parsed = parse(Substring(range)) else { continue }
            html.consider(parsed)
            json.consider(parsed)
        }
        return html.q > 0 && html.q > json.q
    }

    struct Range {
        let type: String
        let subtype: String
        /// Thousandths: 0...1000.
        let q: Int
    }

    /// One media range with its parameters; nil when it is not `type/subtype`
    /// or its `q` is malformed.
    static func parse(_ text: Substring) -> Range? {
        let parts = text.split(separator: ";", omittingEmptySubsequences: false)
        let media = trimmed(parts[0]).lowercased()
        let halves = media.split(separator: "/", omittingEmptySubsequences: false)
        guard halves.count == 2, !halves[0].isEmpty, !halves[1].isEmpty else { return nil }
        var q = 1000
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard trimmed(pair[0]).lowercased() == "q" else { continue }
            guard pair.count == 2, let weight = weight(trimmed(pair[1])) else { return nil }
            q = weight
        }
        return Range(type: String(halves[0]), subtype: String(halves[1]), q: q)
    }

    /// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
    static func weight(_ text: Substring) -> Int? {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
        var value = first == UInt8(ascii: "1") ? 1000 : 0
        guard bytes.count > 1 else { return value }
        guard bytes[1] == UInt8(ascii: "."), bytes.count <= 5 else { return nil }
        var scale = 100
        for digit in bytes[2...] {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            if first == UInt8(ascii: "1"), digit != UInt8(ascii: "0") { return nil }
            value += Int(digit - UInt8(ascii: "0")) * scale
            scale /= 10
        }
        return value
    }

    private static func trimmed(_ text: Substring) -> Substring {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = text.firstIndex(where: { !blank($0) }) else { return "" }
        let end = text.lastIndex(where: { !blank($0) })!
        return text[start...end]
    }

    /// The weight a media type gets from the ranges seen so far.
    struct Weight {
        let type: String
        let subtype: String
        /// 2: the type itself, 1: `type/*`, 0: `*/*`, -1: no range matched.
        private var specificity = -1
        private(set) var q = 0

        init(type: String, subtype: String) {
            self.type = type
            self.subtype = subtype
        }

        mutating func consider(_ range: Range) {
            let level: Int
            if range.type == type && range.subtype == subtype {
                level = 2
            } else if range.type == type && range.subtype == "*" {
                level = 1
            } else if range.type == "*" && range.subtype == "*" {
                level = 0
            } else {
                return
            }
            if level > specificity {
                specificity = level
                q = range.q
            } else if level == specificity {
                q = max(q, range.q)
            }
        }
    }
}
