import Logging
import MusicSupport
#if canImport(Glibc)
import Glibc
#endif

/// One log line per event: `2026-11-22T02:10:00Z info music.api request ...`,
/// gathered in memory and written to standard error by `LogBuffer` at most
/// 200 ms later.
///
/// swift-log's `StreamLogHandler` locks stdio, formats local time (glibc then
/// stats `/etc/localtime`) and writes on every line; at one line per request,
/// the writes alone were a fifth of the worker's time under load.
struct LineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    let buffer: LogBuffer

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
        let extra = event.metadata ?? [:]
        var fields = ""
        if !metadata.isEmpty || !extra.isEmpty {
            let all = metadata.merging(extra) { _, new in new }
            for key in all.keys.sorted() { fields += " \(key)=\(all[key]!)" }
        }
        buffer.appendLine { line in
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: event.level.rawValue.utf8)
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: label.utf8)
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: message.utf8)
            line.append(contentsOf: fields.utf8)
        }
        if event.level >= .warning { buffer.flush() }
    }
}
