import Logging
import MusicSupport
#if canImport(Glibc)
import Glibc
#endif

/// One JSON object per line and per event:
/// `{"time":"2026-11-22T02:10:00.123Z","level":"info","logger":"music.fcgi","message":"store opened","database":"..."}`,
/// gathered in memory and written to standard error by `LogBuffer` at most
/// 200 ms later. Metadata become string members. A logger marked with
/// `JSONLogMembers.metadataKey` gives its messages as members already escaped
/// (the request line of `MusicAPI.log`): copied as they are.
///
/// swift-log's `StreamLogHandler` locks stdio, formats local time (glibc then
/// stats `/etc/localtime`) and writes on every line; at one line per request,
/// the writes alone were a fifth of the worker's time under load.
struct LineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    let buffer: LogBuffer
    /// `,"level":"info","logger":"<label>",` per level: made once.
    private let prefixes: [[UInt8]]
    /// Whether messages are JSON members (`JSONLogMembers`).
    private var messageIsMembers = false

    /// The members every line starts with (`time` is `LogBuffer`'s): a metadata
    /// key among them is written as `metadata_` + key, so no member repeats.
    static let fixedKeys: Set<String> = ["time", "level", "logger", "message"]

    init(label: String, level: Logger.Level, buffer: LogBuffer) {
        self.label = label
        self.logLevel = level
        self.buffer = buffer
        let logger = [UInt8].jsonString(label)
        prefixes = Logger.Level.allCases.sorted { Self.index(of: $0) < Self.index(of: $1) }.map { level in
            Array(#","level":"#.utf8) + [UInt8].jsonString(level.rawValue) + Array(#","logger":"#.utf8) + logger
                + [UInt8(ascii: ",")]
        }
    }

    /// A level's place in `prefixes` (`allCases` would make an array per line).
    private static func index(of level: Logger.Level) -> Int {
        switch level {
        case .trace: 0
        case .debug: 1
        case .info: 2
        case .notice: 3
        case .warning: 4
        case .error: 5
        case .critical: 6
        }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { key == JSONLogMembers.metadataKey ? (messageIsMembers ? "on" : nil) : metadata[key] }
        set {
            if key == JSONLogMembers.metadataKey {
                messageIsMembers = newValue != nil
            } else {
                metadata[key] = newValue
            }
        }
    }

    func log(event: LogEvent) {
        let message = event.message.description
        // Outside the buffer's lock: a value's description is any code at all.
        var members: [UInt8] = []
        if !metadata.isEmpty || !(event.metadata?.isEmpty ?? true) {
            let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
            for key in all.keys.sorted() {
                members.append(UInt8(ascii: ","))
                members.appendJSONString(Self.fixedKeys.contains(key) ? "metadata_" + key : key)
                members.append(UInt8(ascii: ":"))
                members.appendJSONString(all[key]!.description)
            }
        }
        let prefix = prefixes[Self.index(of: event.level)]
        buffer.appendLine { line in
            line.append(contentsOf: prefix)
            if messageIsMembers {
                line.appendUTF8(message)
            } else {
                line.appendStatic(#""message":"#)
                line.appendJSONString(message)
            }
            line.append(contentsOf: members)
        }
        if event.level >= .warning { buffer.flush() }
    }
}
