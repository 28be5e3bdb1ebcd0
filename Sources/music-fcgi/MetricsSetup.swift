import CoreMetrics
import FastCGI
import MusicStores
import Prometheus

/// swift-prometheus behind swift-metrics: the registry every handle of this
/// process lands in, bootstrapped once, before any library makes its handles.
enum MetricsSetup {
    /// Histogram buckets of the durations, in seconds (issue 18's contract).
    static let durationBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    /// Requests per group commit: a count, not a duration.
    static let batchSizeBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256]

    static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = durationBuckets.map { .nanoseconds(Int64(($0 * 1e9).rounded())) }
        // Recorder(aggregate: true) histograms measure seconds too, but for the batch size.
        factory.defaultValueHistogramBuckets = durationBuckets
        factory.valueHistogramBuckets = ["music_write_batch_size": batchSizeBuckets]
        MetricsSystem.bootstrap(factory)
        recordBuildInfo(version: musicCollectionsVersion)
        return registry
    }

    /// music_build_info{version,commit}: always 1. deploy/version makes versions like
    /// 0.1.0+git113.g3cf832c (the commit after ".g"); a plain build says "development".
    static func recordBuildInfo(version: String) {
        Gauge(label: "music_build_info", dimensions: [("version", version), ("commit", commit(of: version))]).record(1)
    }

    static func commit(of version: String) -> String {
        guard let plus = version.firstIndex(of: "+"), let g = version[plus...].range(of: ".g") else { return "unknown" }
        let hash = version[g.upperBound...]
        return hash.isEmpty ? "unknown" : String(hash)
    }

    /// The exposition a scrape gets: the sampled figures refreshed, then the registry.
    static func exposition(registry: PrometheusCollectorRegistry, server: FastCGIServer,
                           process: ProcessMetrics, disk: DatabaseDiskMetrics?) -> @Sendable () -> [UInt8] {
        return {
            server.sampleMetrics()
            process.sample()
            disk?.sample()
            return registry.emitToBuffer()
        }
    }
}
