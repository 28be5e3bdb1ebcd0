#if canImport(Glibc)
import Glibc
#endif

/// Which peers may open a FastCGI connection over TCP. A unix socket's peers are
/// limited by the socket file's owner and mode instead, so the policy is only
/// consulted for connections from an IPv4 or IPv6 address.
///
/// The worker accepts connections itself (see `FastCGIServer`), so libfcgi's own
/// check of `FCGI_WEB_SERVER_ADDRS` in `OS_Accept` never runs: this is that check,
/// with the same variable and list format (addresses separated by commas), plus
/// IPv6 addresses and IPv4-mapped IPv6 peers (a socket systemd opens for
/// `ListenStream=PORT` is dual-stack).
package enum PeerPolicy: Sendable, Equatable {
    /// Any peer: only for a TCP socket reachable from trusted hosts alone, and only when told so explicitly.
    case anyPeer
    /// Only these addresses: 4 bytes (IPv4) or 16 bytes (IPv6) each, in network order.
    case only([[UInt8]])

    /// libfcgi's variable for the web servers allowed to connect.
    package static let environmentVariable = "FCGI_WEB_SERVER_ADDRS"

    /// Parses a list like `10.0.0.1,10.0.0.2` or `::1`. Throws on an empty list or
    /// an address that does not parse: a typo must not open the worker to everyone.
    package static func parse(_ list: String) throws(FastCGIServerError) -> PeerPolicy {
        var addresses: [[UInt8]] = []
        for item in list.split(separator: ",", omittingEmptySubsequences: false) {
            let text = item.trimmingSpaces
            guard let address = parseAddress(text) else { throw .invalidPeerAddress(text) }
            addresses.append(address)
        }
        guard !addresses.isEmpty else { throw .invalidPeerAddress(list) }
        return .only(addresses)
    }

    /// Whether a connection from `address` may be served.
    package func admits(_ address: sockaddr_storage) -> Bool {
        guard case .only(let allowed) = self else { return true }
        guard let peer = Self.peerBytes(address) else { return true }
        return allowed.contains(peer)
    }

    /// The peer's address bytes, IPv4-mapped IPv6 as IPv4; nil for a non-IP peer (unix).
    static func peerBytes(_ address: sockaddr_storage) -> [UInt8]? {
        var storage = address
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafeBytes(of: &storage) { raw in
                let inet = raw.load(as: sockaddr_in.self)
                return withUnsafeBytes(of: inet.sin_addr) { Array($0) }
            }
        case AF_INET6:
            let bytes = withUnsafeBytes(of: &storage) { raw in
                let inet6 = raw.load(as: sockaddr_in6.self)
                return withUnsafeBytes(of: inet6.sin6_addr) { Array($0) }
            }
            let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]
            return Array(bytes.prefix(12)) == mappedPrefix ? Array(bytes.suffix(4)) : bytes
        default:
            return nil
        }
    }

    private static func parseAddress(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            let bytes = withUnsafeBytes(of: v6) { Array($0) }
            let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]
            return Array(bytes.prefix(12)) == mappedPrefix ? Array(bytes.suffix(4)) : bytes
        }
        return nil
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
