import HTTPTypes
import Logging
import MusicAPI
import MusicCore
import Synchronization

/// A store that counts the transactions asked of it and passes them on.
final class CountingStore: Store {
    let inner: any Store
    private let counts = Mutex<(reads: Int, writes: Int)>((0, 0))

    init(_ inner: any Store) { self.inner = inner }

    var writes: Int { counts.withLock { $0.writes } }
    var reads: Int { counts.withLock { $0.reads } }

    func read<T>(_ body: (any StoreReader) throws -> T) throws -> T {
        counts.withLock { $0.reads += 1 }
        return try inner.read(body)
    }

    func write<T>(_ body: (any StoreWriter) throws -> T) throws -> T {
        counts.withLock { $0.writes += 1 }
        return try inner.write(body)
    }

    func ping() throws { try inner.ping() }
    func changeStamp() -> Int64? { inner.changeStamp() }
}

/// Every message logged through it, kept for the test to read.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])

    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    var logger: Logger {
        Logger(label: "music.api.captured") { _ in CapturingHandler(log: self) }
    }

    private struct CapturingHandler: LogHandler {
        let log: CapturedLog
        var logLevel: Logger.Level = .info
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).map { " \($0.key)=\($0.value)" }.sorted().joined()
            log.append("\(event.level) \(event.message)\(fields)")
        }
    }
}

extension TestApp {
    /// Sends a request to `api` (another API over this app's database), as `request` does to the app's own.
    func request(to api: MusicAPI, _ method: HTTPRequest.Method, _ path: String, key: String? = nil,
                 json: String? = nil, headers: [String: String] = [:]) -> TestResponse {
        var fields = HTTPFields()
        fields[HTTPField.Name("X-Request-ID")!] = "0123456789abcdef0123456789abcdef"
        if let key { fields[HTTPField.Name("X-API-Key")!] = key }
        let body = Array((json ?? "").utf8)
        if json != nil {
            fields[.contentType] = "application/json"
            fields[.contentLength] = String(body.count)
        }
        for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
        let request = HTTPRequest(method: method, scheme: "https", authority: "localhost", path: path, headerFields: fields)
        return TestResponse(api.respond(to: request, body: body))
    }
}
