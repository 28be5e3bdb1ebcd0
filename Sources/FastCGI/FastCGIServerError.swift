import CFastCGI
#if canImport(Glibc)
import Glibc
#endif

package enum FastCGIServerError: Error, CustomStringConvertible, Equatable {
    case noInheritedSocket
    case cannotOpen(String)
    case initFailed
    case noPeerAllowList
    case invalidPeerAddress(String)

    package var description: String {
        switch self {
        case .noInheritedSocket:
            return "file descriptor 0 is not a listening socket: start the worker with spawn-fcgi, or pass --socket PATH or --listen HOST:PORT"
        case .cannotOpen(let address):
            return "cannot open the listening socket \(address)"
        case .initFailed:
            return "FCGX_Init failed"
        case .noPeerAllowList:
            return "the listening socket is TCP and no peer is allowed: set \(PeerPolicy.environmentVariable) to the web servers' addresses (comma-separated), or pass --allow-any-peer"
        case .invalidPeerAddress(let text):
            return "\(PeerPolicy.environmentVariable): not an IPv4 or IPv6 address: \"\(text)\""
        }
    }
}
