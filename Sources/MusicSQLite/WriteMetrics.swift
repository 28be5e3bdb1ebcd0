import CoreMetrics

/// The group commit's metrics (`GroupCommit`), made once when the store opens.
package final class WriteMetrics: Sendable {
    /// One line of help per metric, by name, for an exporter that writes HELP lines.
    package static let help: [String: String] = [
        batchSizeName: "Writes committed together by one group commit (SQLite)",
        commitDurationName: "Time of a group commit's COMMIT, the WAL write and its fsync included (SQLite)",
        waitName: "Time from a write's arrival at the writer's queue to the start of the batch that runs it (SQLite)",
        queueDepthName: "Writes queued for the writer that no batch has taken yet (SQLite)",
    ]
    static let batchSizeName = "music_write_batch_size"
    static let commitDurationName = "music_write_commit_duration_seconds"
    static let waitName = "music_write_wait_seconds"
    static let queueDepthName = "music_write_queue_depth"

    let batchSize: Recorder
    let commitDuration: Timer
    let wait: Timer
    let queueDepth: Gauge

    init(factory: any MetricsFactory) {
        batchSize = Recorder(label: Self.batchSizeName, aggregate: true, factory: factory)
        commitDuration = Timer(label: Self.commitDurationName, factory: factory)
        wait = Timer(label: Self.waitName, factory: factory)
        queueDepth = Gauge(label: Self.queueDepthName, factory: factory)
    }
}
