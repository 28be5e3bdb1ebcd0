import CLibPQ
import Foundation
import MusicCore
#if canImport(Glibc)
import Glibc
#endif

/// A database URL taken apart: libpq's parameters (with the defaults added)
/// and this store's limits.
struct PostgresConnectionSettings: Sendable {
    let keywords: [String]
    let values: [String]
    let limits: PostgresLimits

    init(url: String) throws {
        var limits = PostgresLimits()
        let libpqText = try Self.removingLimits(from: url) { name, value in
            guard let entry = PostgresLimits.names.first(where: { $0.name == name }) else {
                throw StoreUnavailableError(reason: "unknown database URL parameter \(name)")
            }
            guard let number = Int(value), number > 0 else {
                throw StoreUnavailableError(reason: "\(name) must be a positive number of milliseconds")
            }
            limits[keyPath: entry.key] = number
        }
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(libpqText, &error) else {
            let message = error.map { String(cString: $0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "out of memory"
            if let error { PQfreemem(error) }
            throw StoreUnavailableError(reason: "invalid database URL: \(message)")
        }
        defer { PQconninfoFree(options) }
        var keywords: [String] = []
        var values: [String] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                keywords.append(String(cString: keyword))
                values.append(String(cString: value))
            }
            option += 1
        }
        for (name, value) in PostgresLimits.libpqDefaults where !keywords.contains(name) {
            keywords.append(name)
            values.append(value)
        }
        if let index = keywords.firstIndex(of: "connect_timeout"), let seconds = Int(values[index]), seconds > 0 {
            // libpq's rule: below 2 seconds counts as 2.
            limits.connectTimeoutMilliseconds = max(2, seconds) * 1000
        }
        self.keywords = keywords
        self.values = values
        self.limits = limits
    }

    /// The URL without its `music_` parameters, each handed to `take`.
    static func removingLimits(from url: String, _ take: (String, String) throws -> Void) throws -> String {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            guard let mark = url.firstIndex(of: "?") else { return url }
            var kept: [Substring] = []
            for item in url[url.index(after: mark)...].split(separator: "&") {
                if item.hasPrefix("music_") {
                    let parts = item.split(separator: "=", maxSplits: 1)
                    try take(String(parts[0]), parts.count > 1 ? String(parts[1]).removingPercentEncoding ?? "" : "")
                } else {
                    kept.append(item)
                }
            }
            return String(url[..<mark]) + (kept.isEmpty ? "" : "?" + kept.joined(separator: "&"))
        }
        // `key=value` pairs separated by spaces; a value may be quoted ('...', with \ escapes).
        var kept = ""
        var index = url.startIndex
        while index < url.endIndex {
            while index < url.endIndex, url[index].isWhitespace { index = url.index(after: index) }
            let start = index
            var quoted = false
            while index < url.endIndex, quoted || !url[index].isWhitespace {
                if url[index] == "\\", quoted { index = url.index(after: index) }
                else if url[index] == "'" { quoted.toggle() }
                if index < url.endIndex { index = url.index(after: index) }
            }
            let pair = url[start..<index]
            guard !pair.isEmpty else { continue }
            if pair.hasPrefix("music_") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                try take(String(parts[0]).trimmingCharacters(in: .whitespaces),
                         parts.count > 1 ? String(parts[1]).trimmingCharacters(in: CharacterSet(charactersIn: "' ")) : "")
            } else {
                kept += (kept.isEmpty ? "" : " ") + pair
            }
        }
        return kept
    }
}
