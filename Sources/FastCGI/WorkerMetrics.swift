import CSocketBacklog
import CoreMetrics
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The worker loop's figures: what PHP-FPM's status page shows (active and idle
/// processes, max active, "max children reached", accepted connections, listen
/// queue), for the threads of one worker process.
///
/// The request path pays a few relaxed atomic operations and a counter increment
/// (an atomic add in swift-prometheus); no lock, no lookup. The handles are made
/// once, here. The gauges are sampled from the atomics by `sampleGauges()`,
/// which the metrics endpoint calls before each scrape (a push backend would call
/// it on its timer): that is also when the listen backlog is read from the kernel.
final class WorkerMetrics: Sendable {
    /// Threads handling a request (from the request read to its answer written).
    let busy = Atomic<Int>(0)
    /// Connections waiting for their next request: parked ones (`KeptAliveConnections.park`:
    /// kept-alive ones, and new ones accepted before their first request is read), or
    /// threads waiting on their kept-alive connection (`.bind`).
    let keepalive = Atomic<Int>(0)
    /// Threads waiting for work (in `accept`, or for the parked connections and the
    /// listening socket): the ones a new request can reach.
    let accepting = Atomic<Int>(0)
    /// Requests answered since start: whether the threads make progress.
    let completed = Atomic<Int>(0)
    private let busyMax = Atomic<Int>(0)
    private let threadCount: Int
    /// Parked connections: saturated means every thread is handling a request (a
    /// thread between two waits is free, not busy). Bound: no thread left in
    /// `accept` (an idle kept-alive connection holds its thread).
    private let saturatedWhenAllBusy: Bool

    // One line of help per metric (Prometheus' HELP), where each is created:
    /// music_worker_threads: request threads in this worker.
    private let threadsGauge: Gauge
    /// music_worker_threads_busy: threads handling a request now.
    private let busyGauge: Gauge
    /// music_worker_threads_keepalive: idle kept-alive nginx connections (parked: no thread
    /// held; with MUSIC_KEPT_ALIVE=bind, each holds an idle thread).
    private let keepaliveGauge: Gauge
    /// music_worker_threads_busy_max: most threads busy at once since start.
    private let busyMaxGauge: Gauge
    /// music_worker_saturated_total: requests that started while no thread was left
    /// waiting for work (every thread busy, or held by a kept-alive connection with
    /// MUSIC_KEPT_ALIVE=bind, so the next request waits): PHP-FPM's "max children reached".
    /// The worker loop's figures are the request threads'; the health lane
    /// (music-fcgi --health-socket) and the metrics endpoint are not counted.
    private let saturated: Counter
    /// music_worker_connections_accepted_total: connections accepted.
    private let accepted: Counter
    /// music_worker_requests_total: requests read (all routes).
    private let requests: Counter
    /// music_worker_listen_backlog: connections waiting in the listening socket's backlog.
    private let backlogGauge: Gauge
    /// music_worker_listen_backlog_limit: the backlog's limit.
    private let backlogLimitGauge: Gauge

    init(threads: Int, factory: any MetricsFactory, parked: Bool = true) {
        threadCount = threads
        saturatedWhenAllBusy = parked
        threadsGauge = Gauge(label: "music_worker_threads", factory: factory)
        busyGauge = Gauge(label: "music_worker_threads_busy", factory: factory)
        keepaliveGauge = Gauge(label: "music_worker_threads_keepalive", factory: factory)
        busyMaxGauge = Gauge(label: "music_worker_threads_busy_max", factory: factory)
        saturated = Counter(label: "music_worker_saturated_total", factory: factory)
        accepted = Counter(label: "music_worker_connections_accepted_total", factory: factory)
        requests = Counter(label: "music_worker_requests_total", factory: factory)
        backlogGauge = Gauge(label: "music_worker_listen_backlog", factory: factory)
        backlogLimitGauge = Gauge(label: "music_worker_listen_backlog_limit", factory: factory)
        threadsGauge.record(threads)
    }

    @inline(__always)
    func enteringAccept() { accepting.add(1, ordering: .relaxed) }

    @inline(__always)
    func leftAccept(gotConnection: Bool) {
        accepting.subtract(1, ordering: .relaxed)
        if gotConnection { accepted.increment() }
    }

    @inline(__always)
    func waitingOnKeptAliveConnection() { keepalive.add(1, ordering: .relaxed) }

    @inline(__always)
    func doneWaitingOnKeptAliveConnection() { keepalive.subtract(1, ordering: .relaxed) }

    /// A request has been read and is about to be handled.
    @inline(__always)
    func requestStarted() {
        requests.increment()
        let now = busy.add(1, ordering: .relaxed).newValue
        if now > busyMax.load(ordering: .relaxed) { raiseBusyMax(to: now) }
        if saturatedWhenAllBusy ? now >= threadCount : accepting.load(ordering: .relaxed) == 0 { saturated.increment() }
    }

    @inline(__always)
    func requestFinished() {
        busy.subtract(1, ordering: .relaxed)
        completed.add(1, ordering: .relaxed)
    }

    private func raiseBusyMax(to value: Int) {
        var seen = busyMax.load(ordering: .relaxed)
        while value > seen {
            let (exchanged, original) = busyMax.compareExchange(expected: seen, desired: value, ordering: .relaxed)
            if exchanged { return }
            seen = original
        }
    }

    /// Publishes the gauges; reads the backlog of `listening` (a listening socket, or -1).
    func sampleGauges(listening: Int32) {
        threadsGauge.record(threadCount)
        busyGauge.record(busy.load(ordering: .relaxed))
        keepaliveGauge.record(keepalive.load(ordering: .relaxed))
        busyMaxGauge.record(busyMax.load(ordering: .relaxed))
        if listening >= 0, let backlog = ListenBacklog.read(listening) {
            backlogGauge.record(Int(backlog.waiting))
            backlogLimitGauge.record(Int(backlog.limit))
        }
    }
}

/// The listen backlog as Linux reports it (see CSocketBacklog).
package enum ListenBacklog {
    package static func read(_ fd: Int32) -> (waiting: UInt32, limit: UInt32)? {
        var waiting: UInt32 = 0
        var limit: UInt32 = 0
        guard music_listen_backlog(fd, &waiting, &limit) == 0 else { return nil }
        return (waiting, limit)
    }
}
