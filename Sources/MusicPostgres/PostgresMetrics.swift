import CoreMetrics

/// The PostgreSQL store's metrics (pool, reconnects, retries), made once when the store opens.
package final class PostgresMetrics: Sendable {
    /// One line of help per metric, by name, for an exporter that writes HELP lines.
    package static let help: [String: String] = [
        connectionsName: "Connections this process's pool may hold (PostgreSQL)",
        inUseName: "Connections of the pool handed to a transaction, or being opened for one, now (PostgreSQL)",
        waitsName: "Transactions that found every connection of the pool in use and waited for one (PostgreSQL)",
        waitName: "Time a transaction waited for a connection of the pool, for those that waited, time-outs included (PostgreSQL)",
        reconnectsName: "Connections re-opened after they were found broken or lost (PostgreSQL)",
        generationResetsName: "Idle connections re-opened before use because another connection of the pool found the server gone, shutting down or read-only, or could not get back to it after a deadline (PostgreSQL)",
        retriesName: "Transactions run again after a deadlock, serialization failure or concurrent insert (PostgreSQL)",
    ]
    static let connectionsName = "music_pg_pool_connections"
    static let inUseName = "music_pg_pool_connections_in_use"
    static let waitsName = "music_pg_pool_waits_total"
    static let waitName = "music_pg_pool_wait_seconds"
    static let reconnectsName = "music_pg_reconnects_total"
    static let generationResetsName = "music_pg_generation_resets_total"
    static let retriesName = "music_pg_transaction_retries_total"

    let connections: Gauge
    let inUse: Gauge
    let waits: Counter
    let wait: Timer
    let reconnects: Counter
    let generationResets: Counter
    let retries: Counter

    init(factory: any MetricsFactory) {
        connections = Gauge(label: Self.connectionsName, factory: factory)
        inUse = Gauge(label: Self.inUseName, factory: factory)
        waits = Counter(label: Self.waitsName, factory: factory)
        wait = Timer(label: Self.waitName, factory: factory)
        reconnects = Counter(label: Self.reconnectsName, factory: factory)
        generationResets = Counter(label: Self.generationResetsName, factory: factory)
        retries = Counter(label: Self.retriesName, factory: factory)
    }
}
