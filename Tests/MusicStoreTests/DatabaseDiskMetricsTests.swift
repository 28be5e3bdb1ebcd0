import Foundation
import MetricsTestKit
@testable import MusicStores
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("The database disk's gauges")
struct DatabaseDiskMetricsTests {
    @Test("free and size are those of the file system of the folder the database path resolves to, links followed")
    func freeAndSizeOfTheResolvedFolder() throws {
        let base = NSTemporaryDirectory() + "music-disk-" + UUID().uuidString
        let real = base + "/service"
        try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        #expect(FileManager.default.createFile(atPath: real + "/music.sqlite", contents: Data()))
        // var/music.sqlite -> service/music.sqlite, as deploy/up links it.
        try FileManager.default.createSymbolicLink(atPath: base + "/music.sqlite", withDestinationPath: "service/music.sqlite")
        #expect(DatabaseDiskMetrics.folder(of: base + "/music.sqlite") == DatabaseDiskMetrics.folder(of: real + "/music.sqlite"))
        #expect(DatabaseDiskMetrics.folder(of: real + "/music.sqlite")?.hasSuffix("/service") == true)

        let metrics = TestMetrics()
        let disk = try #require(DatabaseDiskMetrics(choice: .sqlite(path: base + "/music.sqlite"), factory: metrics))
        disk.sample()
        var stats = statvfs()
        #expect(statvfs(real, &stats) == 0)
        let size = Double(UInt64(stats.f_blocks) * UInt64(stats.f_frsize))
        let free = Double(UInt64(stats.f_bavail) * UInt64(stats.f_frsize))
        #expect(try metrics.expectGauge("music_database_disk_size_bytes").lastValue == size)
        // Other processes write meanwhile: within 256 MiB of what statvfs said just after.
        let reported = try #require(try metrics.expectGauge("music_database_disk_free_bytes").lastValue)
        #expect(abs(reported - free) < 256 * 1024 * 1024, "\(reported) vs \(free)")
        #expect(reported > 0 && reported <= size)
    }

    @Test("PostgreSQL has none (its disk is the database server's); a missing file records nothing")
    func noneForPostgresOrAMissingFile() throws {
        #expect(DatabaseDiskMetrics(choice: .postgres(url: "postgres://localhost/music"), factory: TestMetrics()) == nil)
        let metrics = TestMetrics()
        let disk = try #require(DatabaseDiskMetrics(choice: .sqlite(path: "/nonexistent-\(UUID())/music.sqlite"), factory: metrics))
        disk.sample()
        #expect(try metrics.expectGauge("music_database_disk_free_bytes").lastValue == nil)
    }
}
