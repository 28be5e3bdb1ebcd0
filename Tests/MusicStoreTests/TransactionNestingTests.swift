import MusicCore
import StoreTestSupport
import Testing

/// How transactions nest, the same on every store: `deploy/test` runs this suite
/// on SQLite and on PostgreSQL.
@Suite("Nested transactions")
struct TransactionNestingTests {
    let database: TestDatabase
    let store: any Store

    init() throws {
        database = try TestDatabase()
        store = database.store
    }

    private func organization(_ id: String) -> Organization {
        Organization(id: id, name: "Org \(id)", createdAt: Timestamp(secondsSince1970: 1_700_000_000))
    }

    private struct Abandon: Error {}

    @Test("a write inside a read is refused with WriteInsideReadError, writes nothing, and the read goes on")
    func writeInsideReadIsRefused() throws {
        let refused = organization("org_written_inside_a_read")
        let seenInRead = try store.read { reader in
            #expect(throws: WriteInsideReadError.self) {
                try store.write { try $0.insert(refused) }
            }
            return try reader.organization(id: refused.id)
        }
        #expect(seenInRead == nil)
        #expect(try store.read { try $0.organization(id: refused.id) } == nil)
        #expect(try database.outsideQuery("SELECT count(*) FROM organizations") == "0")
        // The store is usable afterwards, on this thread too.
        try store.write { try $0.insert(organization("org_after")) }
        #expect(try database.outsideQuery("SELECT count(*) FROM organizations") == "1")
    }

    @Test("a write inside a write joins it: both changes commit together, or neither")
    func writeInsideWriteJoins() throws {
        try store.write { writer in
            try writer.insert(organization("org_outer"))
            try store.write { try $0.insert(organization("org_inner")) }
        }
        #expect(try database.outsideQuery("SELECT count(*) FROM organizations") == "2")
        #expect(throws: Abandon.self) {
            try store.write { writer in
                try writer.insert(organization("org_outer_abandoned"))
                try store.write { try $0.insert(organization("org_inner_abandoned")) }
                throw Abandon()
            }
        }
        #expect(try database.outsideQuery("SELECT count(*) FROM organizations") == "2")
    }

    @Test("a read inside a write reads within it, and a write inside that read joins the write")
    func readInsideWriteSeesTheWrite() throws {
        let seen = try store.write { writer in
            try writer.insert(organization("org_uncommitted"))
            return try store.read { reader in
                try store.write { try $0.insert(organization("org_through_the_read")) }
                return try reader.organization(id: "org_uncommitted")
            }
        }
        #expect(seen?.id == "org_uncommitted")
        #expect(try database.outsideQuery("SELECT count(*) FROM organizations") == "2")
    }
}
