#if canImport(Glibc)
import Glibc
#endif

/// Where the time comes from; tests inject a fixed or stepping clock.
package protocol WallClock: Sendable {
    func now() -> Timestamp
}

/// The system's wall clock.
package struct SystemClock: WallClock {
    package init() {}

    package func now() -> Timestamp {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Timestamp(secondsSince1970: Int64(now.tv_sec))
    }
}
