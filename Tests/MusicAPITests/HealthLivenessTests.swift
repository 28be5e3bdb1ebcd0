import HTTPTypes
@testable import MusicAPI
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Health asks the worker loop too (`MusicAPI.setWorkerLiveness`, wired by
/// music-fcgi's health lane): a worker whose request threads are stuck answers
/// 503 like one whose database does not answer, at the next check (at most once
/// per second, as the database ping).
@Suite("Health and the worker loop's progress")
struct HealthLivenessTests {
    @Test("200 while the worker loop makes progress; 503 at the first check after it stops; 200 again once it moves")
    func stalledWorkerIsUnhealthy() throws {
        let app = try TestApp()
        let live = Atomic<Bool>(true)
        app.api.setWorkerLiveness { live.load(ordering: .relaxed) }
        #expect(app.request(.get, "/v1/music/health").status == 200)
        live.store(false, ordering: .relaxed)
        // The verdict is kept for a second: poll with a deadline.
        let deadline = ContinuousClock.now + .seconds(5)
        var status = app.request(.get, "/v1/music/health").status
        while status == 200, ContinuousClock.now < deadline {
            usleepSeconds(0.05)
            status = app.request(.get, "/v1/music/health").status
        }
        #expect(status == 503)
        live.store(true, ordering: .relaxed)
        let back = ContinuousClock.now + .seconds(5)
        while status != 200, ContinuousClock.now < back {
            usleepSeconds(0.05)
            status = app.request(.get, "/v1/music/health").status
        }
        #expect(status == 200)
    }

    private func usleepSeconds(_ seconds: Double) {
        var request = timespec(tv_sec: 0, tv_nsec: Int(seconds * 1e9))
        nanosleep(&request, nil)
    }
}
