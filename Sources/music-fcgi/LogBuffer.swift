import Logging
import MusicSupport
#if canImport(Glibc)
import Glibc
#endif

/// Log lines in memory, written to a file descriptor in batches: by a flusher
/// thread every 200 ms, when 64 KiB have gathered, on a warning, and at exit.
/// A crash loses at most the last 200 ms of lines (nginx's access log, with
/// `buffer=32k flush=1s`, makes the same trade).
final class LogBuffer: @unchecked Sendable {
    private let fd: Int32
    private var pending: [UInt8] = []
    private var lock = pthread_mutex_t()
    private let limit = 64 * 1024
    private var stampSecond: time_t = -1
    /// `{"time":"2026-11-22T02:10:00.`: each line's start but its milliseconds, made once a second.
    private var stamp: [UInt8] = []

    init(fd: Int32 = 2) {
        self.fd = fd
        pthread_mutex_init(&lock, nil)
        pending.reserveCapacity(limit)
        startThread { [self] in
            while true {
                usleep(200_000)
                flush()
            }
        }
    }

    /// Appends one line, a JSON object: `{"time":"...Z"` (UTC, to the
    /// millisecond), the members `write` adds (each after a comma), `}` and a newline.
    func appendLine(_ write: (inout [UInt8]) -> Void) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let millis = Int(now.tv_nsec / 1_000_000)
        pthread_mutex_lock(&lock)
        if now.tv_sec != stampSecond {
            stampSecond = now.tv_sec
            stamp = Array(#"{"time":""#.utf8)
            stamp.append(contentsOf: UTCTimestamp.bytes(Int64(now.tv_sec)).dropLast())
            stamp.append(UInt8(ascii: "."))
        }
        pending.append(contentsOf: stamp)
        pending.append(UInt8(48 + millis / 100))
        pending.append(UInt8(48 + millis / 10 % 10))
        pending.append(UInt8(48 + millis % 10))
        pending.append(UInt8(ascii: "Z"))
        pending.append(UInt8(ascii: "\""))
        write(&pending)
        pending.append(UInt8(ascii: "}"))
        pending.append(UInt8(ascii: "\n"))
        let full = pending.count >= limit
        pthread_mutex_unlock(&lock)
        if full { flush() }
    }

    /// Writes what has gathered.
    func flush() {
        var batch: [UInt8] = []
        batch.reserveCapacity(limit)
        pthread_mutex_lock(&lock)
        swap(&batch, &pending)
        pthread_mutex_unlock(&lock)
        guard !batch.isEmpty else { return }
        batch.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }
}
