#if canImport(Glibc)
import Glibc
#endif

/// Socket options for an accepted TCP connection, so that a web server host that
/// vanishes (power loss, network partition: no FIN, no RST) cannot hold a worker
/// thread: keep-alive probes and `TCP_USER_TIMEOUT` find the dead peer, and the
/// receive/send timeouts bound any single wait.
package struct TCPConnectionTimeouts: Sendable, Equatable {
    /// Idle seconds before the first keep-alive probe.
    package var keepAliveIdleSeconds: Int32
    /// Seconds between probes.
    package var keepAliveIntervalSeconds: Int32
    /// Unanswered probes before the connection is dropped.
    package var keepAliveProbes: Int32
    /// How long sent data may stay unacknowledged before the connection is dropped.
    package var userTimeoutSeconds: Int32
    /// Longest single wait for the peer to send or to accept data. It must exceed
    /// nginx's upstream `keepalive_timeout` (nginx/nginx.conf.template), or the
    /// worker would drop idle kept-alive connections nginx still means to reuse.
    package var ioTimeoutSeconds: Int32

    package static let standard = TCPConnectionTimeouts(
        keepAliveIdleSeconds: 15, keepAliveIntervalSeconds: 5, keepAliveProbes: 3,
        userTimeoutSeconds: 30, ioTimeoutSeconds: 75)

    package init(keepAliveIdleSeconds: Int32, keepAliveIntervalSeconds: Int32, keepAliveProbes: Int32,
                userTimeoutSeconds: Int32, ioTimeoutSeconds: Int32) {
        self.keepAliveIdleSeconds = keepAliveIdleSeconds
        self.keepAliveIntervalSeconds = keepAliveIntervalSeconds
        self.keepAliveProbes = keepAliveProbes
        self.userTimeoutSeconds = userTimeoutSeconds
        self.ioTimeoutSeconds = ioTimeoutSeconds
    }

    /// Applies the options to an accepted TCP connection. Returns false if one failed.
    @discardableResult
    package func apply(to fd: Int32) -> Bool {
        func set(_ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
            var value = value
            return setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0
        }
        let tcp = Int32(IPPROTO_TCP)
        var ok = true
        // Answers are written in one piece; do not let Nagle hold the last segment
        // (libfcgi's own accept sets this too).
        ok = set(tcp, TCP_NODELAY, 1) && ok
        ok = set(SOL_SOCKET, SO_KEEPALIVE, 1) && ok
        ok = set(tcp, TCP_KEEPIDLE, keepAliveIdleSeconds) && ok
        ok = set(tcp, TCP_KEEPINTVL, keepAliveIntervalSeconds) && ok
        ok = set(tcp, TCP_KEEPCNT, keepAliveProbes) && ok
        ok = set(tcp, TCP_USER_TIMEOUT, userTimeoutSeconds * 1000) && ok
        ok = setIOTimeouts(fd, seconds: ioTimeoutSeconds) && ok
        return ok
    }
}

/// Read and write timeouts (SO_RCVTIMEO, SO_SNDTIMEO) on a connection: a blocked
/// read or write fails after `seconds`, and libfcgi ends the request.
func setIOTimeouts(_ fd: Int32, seconds: Int32) -> Bool {
    var value = timeval(tv_sec: Int(seconds), tv_usec: 0)
    let size = socklen_t(MemoryLayout<timeval>.size)
    let read = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, size) == 0
    return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, size) == 0 && read
}
