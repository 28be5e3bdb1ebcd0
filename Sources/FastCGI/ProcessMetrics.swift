import CoreMetrics
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The process figures every Prometheus client library exports under these
/// standard names, read from /proc/self when `sample()` is called (at scrape time).
package final class ProcessMetrics: Sendable {
    /// process_resident_memory_bytes: resident memory size in bytes.
    private let residentMemory: Gauge
    /// process_cpu_seconds_total: user and system CPU time spent, in seconds.
    private let cpuSeconds: FloatingPointCounter
    /// process_open_fds: open file descriptors.
    private let openFDs: Gauge
    /// process_max_fds: the limit of open file descriptors (RLIMIT_NOFILE, soft).
    private let maxFDs: Gauge
    /// process_start_time_seconds: start time since the Unix epoch, in seconds.
    private let startTime: Gauge
    /// CPU seconds already added to the counter (counters only go up by increments).
    private let reportedCPU = Mutex<Double>(0)
    private let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    private let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    package init(factory: any MetricsFactory = MetricsSystem.factory) {
        residentMemory = Gauge(label: "process_resident_memory_bytes", factory: factory)
        cpuSeconds = FloatingPointCounter(label: "process_cpu_seconds_total", factory: factory)
        openFDs = Gauge(label: "process_open_fds", factory: factory)
        maxFDs = Gauge(label: "process_max_fds", factory: factory)
        startTime = Gauge(label: "process_start_time_seconds", factory: factory)
        if let stat = Self.statFields(), stat.count > 19, let started = Double(stat[19]), let boot = Self.bootTime() {
            startTime.record(boot + started / ticksPerSecond)
        }
    }

    package func sample() {
        if let stat = Self.statFields(), stat.count > 21 {
            if let pages = Int(stat[21]) { residentMemory.record(pages * pageSize) }
            if let user = Double(stat[11]), let system = Double(stat[12]) {
                let total = (user + system) / ticksPerSecond
                let delta = reportedCPU.withLock { reported -> Double in
                    let delta = total - reported
                    if delta > 0 { reported = total }
                    return delta
                }
                if delta > 0 { cpuSeconds.increment(by: delta) }
            }
        }
        if let count = Self.openDescriptors() { openFDs.record(count) }
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 { maxFDs.record(Int(clamping: limit.rlim_cur)) }
    }

    /// /proc/self/stat from its third field (the state) on: field N is at index N - 3.
    /// The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    static func statFields() -> [Substring]? {
        guard let text = readText("/proc/self/stat"), let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    /// The boot time (btime in /proc/stat), seconds since the epoch.
    static func bootTime() -> Double? {
        guard let text = readText("/proc/stat") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst("btime ".count).trimmingPrefix(" "))
        }
        return nil
    }

    /// Entries of /proc/self/fd, less the one the listing itself opens.
    static func openDescriptors() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0.first == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return count - 1
    }

    static func readText(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { break }
            bytes.append(contentsOf: chunk[..<got])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
