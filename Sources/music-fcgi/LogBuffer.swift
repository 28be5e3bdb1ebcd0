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

    /// Appends one line: the time (formatted once per second), what `write` adds, a newline.
    func appendLine(_ write: (inout [UInt8]) -> Void) {
        var now = time_t()
        time(&now)
        pthread_mutex_lock(&lock)
        if now != stampSecond {
            stampSecond = now
            stamp = UTCTimestamp.bytes(Int64(now))
        }
        pending.append(contentsOf: stamp)
        write(&pending)
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
