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
