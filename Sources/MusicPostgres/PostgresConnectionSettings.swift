import CLibPQ
import Foundation
import MusicCore
#if canImport(Glibc)
import Glibc
#endif

/// One server of a multi-host URL, as libpq reads its lists: the element of
/// `host`, of `hostaddr` and of `port` at the same place (nil: the URL does not
/// set that keyword; a single `port` applies to every host).
struct PostgresHost: Equatable, Sendable, CustomStringConvertible {
    var host: String?
    var hostaddr: String?
    var port: String?

    /// For messages: the name (or address) and port, as the URL gives them.
    var description: String {
        let name = [host, hostaddr].compactMap { $0 }.first { !$0.isEmpty } ?? "(default host)"
        return port.map { $0.isEmpty ? name : "\(name) port \($0)" } ?? name
    }
}

/// A database URL taken apart: libpq's parameters (with the defaults added)
/// and this store's limits.
struct PostgresConnectionSettings: Sendable {
    let keywords: [String]
    let values: [String]
    let limits: PostgresLimits
    /// The servers of a multi-host URL (`host=db1,db2`), in URL order; empty for
    /// a single host. libpq's own per-host `connect_timeout` works only in its
    /// blocking connect, so the store tries the hosts itself, one connection each.
    let hosts: [PostgresHost]

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
        hosts = try Self.hosts(keywords: keywords, values: values)
    }

    /// libpq's parameters for one host of `hosts` (nil: the URL's own), every
    /// other keyword (`target_session_attrs` among them) unchanged.
    func parameters(forHost index: Int?) -> (keywords: [String], values: [String]) {
        guard let index else { return (keywords, values) }
        let entry = hosts[index]
        var values = values
        for (position, keyword) in keywords.enumerated() {
            switch keyword {
            case "host": values[position] = entry.host ?? values[position]
            case "hostaddr": values[position] = entry.hostaddr ?? values[position]
            case "port": values[position] = entry.port ?? values[position]
            default: break
            }
        }
        return (keywords, values)
    }

    /// The order a (re)connection tries the hosts in: `preferred` (the host that
    /// last gave a session) first, then the others in URL order. `[nil]` for a
    /// single host: the URL's parameters as they are.
    func hostOrder(preferred: Int) -> [Int?] {
        guard hosts.count > 1 else { return [nil] }
        let first = hosts.indices.contains(preferred) ? preferred : 0
        return [first] + hosts.indices.filter { $0 != first }
    }

    /// The host list as libpq counts it: `hostaddr`'s elements when it is set,
    /// else `host`'s; the other list, when set, must have as many, and `port`
    /// one (for all) or as many. Lists are split at every comma (libpq has no escape).
    static func hosts(keywords: [String], values: [String]) throws -> [PostgresHost] {
        let list = { (name: String) -> [String]? in
            guard let index = keywords.firstIndex(of: name), !values[index].isEmpty else { return nil }
            return values[index].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        let hostList = list("host"), addressList = list("hostaddr"), portList = list("port")
        let count = addressList?.count ?? hostList?.count ?? 1
        if let hostList, hostList.count != count {
            throw StoreUnavailableError(reason: "invalid database URL: \(hostList.count) host names for \(count) hostaddr values")
        }
        if let portList, portList.count != 1, portList.count != count {
            throw StoreUnavailableError(reason: "invalid database URL: \(portList.count) port numbers for \(count) hosts")
        }
        guard count > 1 else { return [] }
        return (0..<count).map { index in
            PostgresHost(host: hostList?[index], hostaddr: addressList?[index],
                         port: portList.map { $0.count == 1 ? $0[0] : $0[index] })
        }
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
