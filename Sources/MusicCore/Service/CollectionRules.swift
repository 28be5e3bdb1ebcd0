/// The field rules of docs/api.md, one function per field.
package enum CollectionRules {
    package static let nameLimit = 512
    package static let descriptionLimit = 4_096
    package static let coverImageURLLimit = 1_024
    package static let maxTracks = 10_000

    /// 1-512 Unicode code points; no C0 control character but tab and newline.
    package static func checkName(_ name: String) throws(MusicError) {
        let count = name.unicodeScalars.count
        guard count >= 1, count <= nameLimit else {
            throw .validation(field: "name", reason: "name must be between 1 and \(nameLimit) characters")
        }
        guard !containsForbiddenControl(name, allowCarriageReturn: false) else {
            throw .validation(field: "name", reason: "name must not contain control characters other than tab and newline")
        }
    }

    /// At most 4,096 code points; tab, newline and carriage return are the only
    /// C0 control characters allowed (decided here: descriptions are free text).
    package static func checkDescription(_ description: String) throws(MusicError) {
        guard description.unicodeScalars.count <= descriptionLimit else {
            throw .validation(field: "description", reason: "description must be at most \(descriptionLimit) characters")
        }
        guard !containsForbiddenControl(description, allowCarriageReturn: true) else {
            throw .validation(field: "description", reason: "description must not contain control characters other than tab, newline and carriage return")
        }
    }

    /// An absolute http(s) URL with a host, at most 1,024 code points, no
    /// control character and no white space (`isRefusedInURL`). Decided on
    /// code points, as openapi.yaml's pattern for the field reads it (a
    /// `Character` would join a combining mark to the "/" before it). That
    /// pattern states this same rule; CoverImageURLContractTests holds them to it.
    package static func checkCoverImageURL(_ url: String) throws(MusicError) {
        let reason = "cover_image_url must be an absolute http(s) URL of at most \(coverImageURLLimit) characters"
        let scalars = url.unicodeScalars
        guard scalars.count <= coverImageURLLimit, !scalars.contains(where: isRefusedInURL) else {
            throw .validation(field: "cover_image_url", reason: reason)
        }
        // "http://" or "https://", letters in any case.
        let head = scalars.prefix(8).map { $0.value >= 0x41 && $0.value <= 0x5A ? $0.value | 0x20 : $0.value }
        let schemeLength = head.starts(with: "https://".unicodeScalars.map(\.value)) ? 8
            : head.starts(with: "http://".unicodeScalars.map(\.value)) ? 7 : 0
        guard schemeLength > 0 else { throw .validation(field: "cover_image_url", reason: reason) }
        let rest = scalars.dropFirst(schemeLength)
        // The host: after the last "@" of the authority, not empty, not starting with ":".
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let host = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? authority[...]
        guard let first = host.first, first != ":" else {
            throw .validation(field: "cover_image_url", reason: reason)
        }
    }

    /// The code points a cover image URL may not hold: C0 controls and space,
    /// DEL, C1 controls and no-break space, and the rest of ECMAScript's `\s`.
    package static func isRefusedInURL(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x20, 0x7F...0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF: return true
        default: return false
        }
    }

    /// A reference to a track: a non-empty string. Whether it names a track of
    /// the organization is a lookup (404), not a validation rule.
    package static func checkTrackReference(_ id: String, field: String) throws(MusicError) {
        guard !id.isEmpty else {
            throw .validation(field: field, reason: "\(field) must be a non-empty track id")
        }
    }

    private static func containsForbiddenControl(_ text: String, allowCarriageReturn: Bool) -> Bool {
        text.unicodeScalars.contains { scalar in
            guard scalar.value < 0x20 else { return false }
            if scalar == "\t" || scalar == "\n" { return false }
            if scalar == "\r" && allowCarriageReturn { return false }
            return true
        }
    }
}
