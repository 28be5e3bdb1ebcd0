// swift-tools-version:6.0
import PackageDescription

// Linux only: the code calls Glibc and pthreads directly and links Debian's
// libfcgi and libpq (see deploy/lib.sh for the packages).

let package = Package(
    name: "music-collections",
    products: [
        .executable(name: "music-fcgi", targets: ["music-fcgi"]),
        .executable(name: "music-admin", targets: ["music-admin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        // The metrics API (CoreMetrics): the libraries make their handles from a
        // `MetricsFactory`; the exporter, swift-prometheus, is chosen by music-fcgi.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // Debian's libfcgi (libfcgi-dev), bridged as a system library: nothing vendored.
        .systemLibrary(
            name: "CFastCGI",
            pkgConfig: "fcgi",
            providers: [.apt(["libfcgi-dev"])]
        ),
        // Small helpers every other target uses: the monotonic clock, UTC timestamps,
        // thread start, thread-local objects, byte appending. Depends on nothing.
        // Public and inlinable, like MusicCore's RowMapping: as `package` declarations
        // the generic ones were called unspecialized from the stores (docs/performance.md).
        .target(name: "MusicSupport"),
        // The listen backlog as Linux reports it (sock_diag netlink, TCP_INFO): the
        // netlink structs live in linux/ headers Glibc's module does not cover, and
        // NLMSG_* are function-like macros Swift cannot import.
        .target(name: "CSocketBacklog"),
        // The worker loop: threads blocking in FCGX_Accept_r. Knows nothing of music.
        .target(
            name: "FastCGI",
            dependencies: [
                "CFastCGI", "MusicSupport", "CSocketBacklog",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Domain types, validation and rules over the `Store` protocol.
        .target(
            name: "MusicCore",
            dependencies: [
                "MusicSupport",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The sqlite3_config calls Swift cannot make (the function is variadic), on
        // the SQLite that GRDB links.
        .target(
            name: "CSQLiteConfig",
            dependencies: [.product(name: "GRDBSQLite", package: "GRDB.swift")]
        ),
        // The `Store` on SQLite through GRDB, its hot queries through SQLite's own API.
        .target(
            name: "MusicSQLite",
            dependencies: [
                "MusicCore", "MusicSupport", "CSQLiteConfig",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        // Debian's libpq (libpq-dev), bridged the same way as libfcgi.
        .systemLibrary(
            name: "CLibPQ",
            providers: [.apt(["libpq-dev"])]
        ),
        // The `Store` on PostgreSQL through libpq: several worker hosts, one database.
        .target(
            name: "MusicPostgres",
            dependencies: [
                "MusicCore", "MusicSupport", "CLibPQ",
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // Chooses and opens a store from --database-url / --db.
        .target(
            name: "MusicStores",
            dependencies: [
                "MusicCore", "MusicSQLite", "MusicPostgres",
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // The HTTP layer: router, auth, JSON, error envelope. `(Request) -> Response`.
        .target(
            name: "MusicAPI",
            dependencies: [
                "MusicCore", "MusicSupport",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "music-fcgi",
            dependencies: [
                "FastCGI", "MusicAPI", "MusicStores", "MusicSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "music-admin",
            dependencies: [
                "MusicCore", "MusicSQLite", "MusicStores",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "MusicCoreTests", dependencies: ["MusicCore"]),
        .testTarget(name: "MusicSupportTests", dependencies: ["MusicSupport"]),
        // The store the tests run on: SQLite, or PostgreSQL with MUSIC_TEST_DATABASE_URL.
        .target(
            name: "StoreTestSupport",
            dependencies: [
                "MusicCore", "MusicSQLite", "MusicPostgres",
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            path: "Tests/StoreTestSupport"
        ),
        .testTarget(
            name: "MusicStoreTests",
            dependencies: [
                "MusicSQLite", "MusicPostgres", "MusicStores", "MusicCore", "StoreTestSupport",
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "MusicAPITests",
            dependencies: [
                "MusicAPI", "MusicSQLite", "MusicCore", "StoreTestSupport",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "FastCGITests",
            dependencies: [
                "FastCGI",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
