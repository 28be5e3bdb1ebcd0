import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal FastCGI client (the web server's side of the protocol), to drive
/// the worker over a real socket in tests.
final class FastCGIClient {
    struct Response {
        var status: Int
        var headers: [String: String]
        /// The header lines as sent, in order.
        var headerLines: [String]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let fd: Int32

    /// `fd` is set only once connected: a class whose stored properties are all
    /// set runs `deinit` when its initializer throws, and a second `close` there
    /// would close whatever descriptor took the number meanwhile (in this
    /// process: a server's listening socket or another test's connection).
    init(socketPath: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(socketPath.utf8)
            raw.copyBytes(from: bytes.prefix(raw.count - 1))
            raw[min(bytes.count, raw.count - 1)] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let error = errno
            close(fd)
            throw Failure(description: "connect(\(socketPath)) failed: errno \(error)")
        }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
    }

    /// A TCP connection to `host:port` (IPv4) from `source` (any port).
    init(tcpHost host: String, port: UInt16, source: String) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        func address(_ text: String, _ port: UInt16) -> sockaddr_in {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            inet_pton(AF_INET, text, &address.sin_addr)
            return address
        }
        var local = address(source, 0)
        var remote = address(host, port)
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }
        let connected = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, size) } }
        guard bound == 0, connected == 0 else {
            let error = errno
            close(fd)
            throw Failure(description: "connect(\(host):\(port)) from \(source) failed: errno \(error)")
        }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
    }

    deinit { close(fd) }

    // MARK: Records

    enum RecordType: UInt8 {
        case beginRequest = 1, endRequest = 3, params = 4, stdin = 5, stdout = 6, stderr = 7
    }

    func record(_ type: RecordType, requestID: UInt16 = 1, _ content: [UInt8]) -> [UInt8] {
        precondition(content.count <= 65_535)
        let padding = (8 - content.count % 8) % 8
        var bytes: [UInt8] = [1, type.rawValue, UInt8(requestID >> 8), UInt8(requestID & 0xFF),
                              UInt8(content.count >> 8), UInt8(content.count & 0xFF), UInt8(padding), 0]
        bytes += content
        bytes += [UInt8](repeating: 0, count: padding)
        return bytes
    }

    func sendBegin(keepConnection: Bool = false, requestID: UInt16 = 1) throws {
        try send(record(.beginRequest, requestID: requestID, [0, 1, keepConnection ? 1 : 0, 0, 0, 0, 0, 0]))
    }

    func sendParams(_ params: [(String, String)], requestID: UInt16 = 1) throws {
        var encoded: [UInt8] = []
        for (name, value) in params {
            for length in [name.utf8.count, value.utf8.count] {
                if length < 128 {
                    encoded.append(UInt8(length))
                } else {
                    encoded += [UInt8((length >> 24) | 0x80), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
                }
            }
            encoded += Array(name.utf8) + Array(value.utf8)
        }
        var offset = 0
        while offset < encoded.count {
            let end = min(offset + 65_535, encoded.count)
            try send(record(.params, requestID: requestID, Array(encoded[offset..<end])))
            offset = end
        }
        try send(record(.params, requestID: requestID, []))
    }

    /// Sends the body in records of at most `chunk` bytes, then the empty record
    /// that ends the stream (unless `end` is false).
    func sendStdin(_ body: [UInt8], chunk: Int = 65_535, end: Bool = true, requestID: UInt16 = 1) throws {
        var offset = 0
        while offset < body.count {
            let stop = min(offset + chunk, body.count)
            try send(record(.stdin, requestID: requestID, Array(body[offset..<stop])))
            offset = stop
        }
        if end { try send(record(.stdin, requestID: requestID, [])) }
    }

    /// Reads records until END_REQUEST and parses the CGI response.
    func readResponse() throws -> Response {
        var stdout: [UInt8] = []
        while true {
            let header = try receive(8)
            let length = Int(header[4]) << 8 | Int(header[5])
            let content = try receive(length + Int(header[6]))
            switch header[1] {
            case RecordType.stdout.rawValue: stdout += content.prefix(length)
            case RecordType.endRequest.rawValue: return try Self.parse(stdout)
            default: continue
            }
        }
    }

    /// One whole request on this connection.
    func request(_ params: [(String, String)], body: [UInt8] = [], chunk: Int = 65_535, keepConnection: Bool = false) throws -> Response {
        try sendBegin(keepConnection: keepConnection)
        try sendParams(params)
        try sendStdin(body, chunk: chunk)
        return try readResponse()
    }

    static func parse(_ output: [UInt8]) throws -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let split = (0...(max(0, output.count - 4))).first(where: { Array(output[$0..<min($0 + 4, output.count)]) == separator }) else {
            throw Failure(description: "no header end in \(String(decoding: output, as: UTF8.self))")
        }
        let head = String(decoding: output[..<split], as: UTF8.self)
        var headers: [String: String] = [:]
        let lines = head.components(separatedBy: "\r\n")
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let status = Int(headers["status"]?.prefix(3) ?? "") ?? 0
        return Response(status: status, headers: headers, headerLines: lines, body: Array(output[(split + 4)...]))
    }

    /// Whether the server closes the connection within `seconds` (end of stream
    /// or a reset); false if it stays open or sends data instead.
    func peerCloses(within seconds: Double) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(seconds * 1000)) == 1 else { return false }
        var byte: UInt8 = 0
        let got = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
        return got == 0 || (got < 0 && errno == ECONNRESET)
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw Failure(description: "send failed: errno \(errno)") }
            offset += written
        }
    }

    private func receive(_ count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = buffer[filled...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard got > 0 else { throw Failure(description: "connection ended (errno \(errno)) after \(filled) of \(count) bytes") }
            filled += got
        }
        return buffer
    }
}
