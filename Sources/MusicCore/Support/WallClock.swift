import MusicSupport

/// Where the time comes from; tests inject a fixed or stepping clock.
package protocol WallClock: Sendable {
    func now() -> Timestamp
}

/// The system's wall clock.
package struct SystemClock: WallClock {
    package init() {}

    package func now() -> Timestamp {
        Timestamp(secondsSince1970: Int64(wallClockMilliseconds() / 1_000))
    }
}
