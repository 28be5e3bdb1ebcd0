import CFastCGI
#if canImport(Glibc)
import Glibc
#endif

/// Where the worker accepts FastCGI connections from.
package enum ListeningSocket: Sendable, Equatable {
    /// The socket spawn-fcgi (or systemd) hands over on file descriptor 0.
    case inherited
    /// A unix socket the worker creates itself, with mode 0660 (development).
    case unix(path: String)
    /// A TCP socket, `host:port` (development, or several hosts).
    case tcp(address: String)

    /// Opens (or checks) the socket and returns its file descriptor, close-on-exec.
    /// `FCGX_Init` must have been called before.
    func open(backlog: Int32) throws(FastCGIServerError) -> Int32 {
        let fd = try openDescriptor(backlog: backlog)
        closeOnExec(fd)
        return fd
    }

    private func openDescriptor(backlog: Int32) throws(FastCGIServerError) -> Int32 {
        switch self {
        case .inherited:
            var status = stat()
            guard fstat(0, &status) == 0, (status.st_mode & S_IFMT) == S_IFSOCK else {
                throw .noInheritedSocket
            }
            return 0
        case .unix(let path):
            let previous = umask(0o117)
            defer { umask(previous) }
            let fd = FCGX_OpenSocket(path, backlog)
            guard fd >= 0 else { throw .cannotOpen(path) }
            chmod(path, 0o660)
            return fd
        case .tcp(let address):
            let fd = FCGX_OpenSocket(address, backlog)
            guard fd >= 0 else { throw .cannotOpen(address) }
            return fd
        }
    }
}

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
