import Logging
import MusicSupport
#if canImport(Glibc)
import Glibc
#endif

/// One JSON object per line and per event:
/// `{"time":"2026-11-22T02:10:00.123Z","level":"info","logger":"music.fcgi","message":"store opened","database":"..."}`,
/// gathered in memory and written to standard error by `LogBuffer` at most
/// 200 ms later. Metadata become string members, except `JSONLogFields`, whose
/// members are copied as they are (the request line of `MusicAPI.log`).
///
/// swift-log's `StreamLogHandler` locks stdio, formats local time (glibc then
/// stats `/etc/localtime`) and writes on every line; at one line per request,
/// the writes alone were a fifth of the worker's time under load.
struct LineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    let buffer: LogBuffer

    /// The members every line starts with (`time` is `LogBuffer`'s): a metadata
    /// key among them is written as `metadata_` + key, so no member repeats.
    static let fixedKeys: Set<String> = ["time", "level", "logger", "message"]

    init(label: String, level: Logger.Level, buffer: LogBuffer) {
        self.label = label
        self.logLevel = level
        self.buffer = buffer
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let message = event.message.description
        let all: Logger.Metadata
        if metadata.isEmpty {
            all = event.metadata ?? [:]
        } else {
            all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        }
        // Outside the buffer's lock: a value's description is any code at all.
        var copied: [UInt8] = []  // the JSONLogFields' members (shared, not copied, when one)
        var members: [UInt8] = []
        if !all.isEmpty {
            for key in all.count == 1 ? Array(all.keys) : all.keys.sorted() {
                let value = all[key]!
                if case .stringConvertible(let convertible) = value, let fields = convertible as? JSONLogFields {
                    if copied.isEmpty {
                        copied = fields.members
                    } else if !fields.members.isEmpty {
                        copied.append(UInt8(ascii: ","))
                        copied.append(contentsOf: fields.members)
                    }
                    continue
                }
                members.append(UInt8(ascii: ","))
                members.appendJSONString(Self.fixedKeys.contains(key) ? "metadata_" + key : key)
                members.append(UInt8(ascii: ":"))
                members.appendJSONString(value.description)
            }
        }
        buffer.appendLine { line in
            line.append(contentsOf: #","level":"#.utf8)
            line.appendJSONString(event.level.rawValue)
            line.append(contentsOf: #","logger":"#.utf8)
            line.appendJSONString(label)
            line.append(contentsOf: #","message":"#.utf8)
            line.appendJSONString(message)
            if !copied.isEmpty {
                line.append(UInt8(ascii: ","))
                line.append(contentsOf: copied)
            }
            line.append(contentsOf: members)
        }
        if event.level >= .warning { buffer.flush() }
    }
}
