import Foundation
import MusicCore
@testable import MusicPostgres
import StoreTestSupport
import Synchronization
import Testing

/// Every wait of the PostgreSQL store ends within its bound in a
/// `StoreUnavailableError` (the API's 503), and the store works again after.
@Suite("PostgreSQL time bounds", .enabled(if: TestDatabase.postgresURL != nil))
struct PostgresTimeBoundTests {
    let database: TestDatabase
    let organizationID: String

    init() throws {
        database = try TestDatabase()
        organizationID = try AdminService(store: database.store).createOrganization(name: "Bounds").id
    }

    func readOrganization(_ store: any Store) throws {
        _ = try store.read { try $0.organization(id: organizationID) }
    }

    @Test("the URL's limits and libpq defaults: set ones kept, missing ones added, music_ ones removed")
    func settings() throws {
        let settings = try PostgresConnectionSettings(
            url: "postgresql://u@h/db?keepalives_idle=30&music_pool_wait_ms=250&music_statement_timeout_ms=900")
        #expect(settings.limits.poolWaitMilliseconds == 250)
        #expect(settings.limits.statementTimeoutMilliseconds == 900)
        #expect(settings.limits.transactionTimeoutMilliseconds == PostgresLimits().transactionTimeoutMilliseconds)
        let options = Dictionary(uniqueKeysWithValues: zip(settings.keywords, settings.values))
        #expect(options["keepalives_idle"] == "30")
        #expect(options["connect_timeout"] == "5")
        #expect(options["tcp_user_timeout"] == "10000")
        #expect(options["dbname"] == "db")
        #expect(!settings.keywords.contains { $0.hasPrefix("music_") })
        let keywordForm = try PostgresConnectionSettings(url: "host=/tmp dbname='my db' music_transaction_timeout_ms=1500 connect_timeout=3")
        #expect(keywordForm.limits.transactionTimeoutMilliseconds == 1500)
        #expect(keywordForm.limits.connectTimeoutMilliseconds == 3000)
        #expect(Dictionary(uniqueKeysWithValues: zip(keywordForm.keywords, keywordForm.values))["dbname"] == "my db")
        #expect(throws: StoreUnavailableError.self) { try PostgresConnectionSettings(url: "postgresql:///db?music_nonsense=1") }
        #expect(throws: StoreUnavailableError.self) { try PostgresConnectionSettings(url: "postgresql:///db?music_pool_wait_ms=soon") }
    }

    @Test("with every pooled connection held, the next transaction fails within the pool wait")
    func poolExhausted() throws {
        let store = try #require(try database.anotherPostgresStore(parameters: "music_pool_wait_ms=500", connections: 2))
        let release = DispatchSemaphore(value: 0)
        let holding = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for _ in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                _ = try? store.read { reader -> Int in
                    _ = try reader.organization(id: "org_x")
                    holding.signal()
                    release.wait()
                    return 0
                }
            }
        }
        for _ in 0..<2 { holding.wait() }
        let blocked = timed { try readOrganization(store) }
        for _ in 0..<2 { release.signal() }
        #expect(group.wait(timeout: .now() + 10) == .success)
        #expect(blocked.error is StoreUnavailableError)
        #expect(blocked.seconds >= 0.45 && blocked.seconds < 2, "waited \(blocked.seconds) s")
        #expect(timed { try readOrganization(store) }.error == nil)
    }

    @Test("a statement that runs past statement_timeout ends in StoreUnavailableError; the connection serves again")
    func statementTimeout() throws {
        let store = try #require(try database.anotherPostgresStore(parameters: "music_statement_timeout_ms=300", connections: 1))
        let slow = timed {
            _ = try store.read { reader in
                try (reader as! PostgresTransaction).connection.query("SELECT pg_sleep(5)", []) { _ in 0 }
            }
        }
        #expect(slow.error is StoreUnavailableError, "\(String(describing: slow.error))")
        #expect(slow.seconds >= 0.25 && slow.seconds < 2, "took \(slow.seconds) s")
        #expect(timed { try readOrganization(store) }.error == nil)
    }

    @Test("a transaction that runs past its own bound is cut short on the client; the connection is replaced")
    func transactionTimeout() throws {
        let store = try #require(try database.anotherPostgresStore(
            parameters: "music_transaction_timeout_ms=700&music_statement_timeout_ms=20000", connections: 1))
        let slow = timed {
            _ = try store.read { reader in
                try (reader as! PostgresTransaction).connection.query("SELECT pg_sleep(5)", []) { _ in 0 }
            }
        }
        #expect(slow.error is StoreUnavailableError, "\(String(describing: slow.error))")
        #expect(slow.seconds >= 0.65 && slow.seconds < 2, "took \(slow.seconds) s")
        #expect(timed { try readOrganization(store) }.error == nil)
    }

    @Test("a database link that goes silent (a frozen TCP proxy) ends each transaction within its bound")
    func silentLink() throws {
        let socket = try #require(TestDatabase.postgresSocket)
        let proxy = try FreezableProxy(unixSocket: socket)
        let store = try #require(try database.anotherPostgresStore(
            parameters: "music_transaction_timeout_ms=1500", through: proxy, connections: 2))
        #expect(timed { try readOrganization(store) }.error == nil)
        proxy.freeze()
        // The open connection's answer never comes; then a new connection's handshake never ends.
        for attempt in 0..<3 {
            let stuck = timed { try readOrganization(store) }
            #expect(stuck.error is StoreUnavailableError, "attempt \(attempt): \(String(describing: stuck.error))")
            #expect(stuck.seconds < 3, "attempt \(attempt) took \(stuck.seconds) s")
        }
        let write = timed { _ = try AdminService(store: store).createOrganization(name: "never") }
        #expect(write.error is StoreUnavailableError)
        #expect(write.seconds < 3)
    }
}
