import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// Group commit on the one writer connection: concurrent write transactions are
/// gathered into one SQLite transaction, each in a savepoint of its own, and
/// committed together, so one fsync (`synchronous=FULL`) makes a whole batch
/// durable. Every caller returns only after the commit that holds its changes,
/// so an acknowledged write is on disk exactly as with a commit of its own.
///
/// The first waiting writer becomes the leader: it takes every queued write,
/// runs them in arrival order (a write that throws rolls back to its savepoint
/// and leaves the others alone), commits, and wakes the writers of the batch;
/// writes that arrived meanwhile form the next batch under a new leader.
/// With fsync at 100-200 us on these disks, committing one transaction per
/// write capped the service at a few thousand writes per second.
final class GroupCommit: @unchecked Sendable {
    /// One queued write. `run` executes it and says whether it failed. Each has
    /// a condition of its own, so finishing a batch wakes only its members and
    /// the next leader, not every thread that waits to write.
    private final class Pending {
        let run: (Database) -> Bool
        var done = false
        var promoted = false
        var commitError: (any Error)?
        var wake = pthread_cond_t()

        init(run: @escaping (Database) -> Bool) {
            self.run = run
            pthread_cond_init(&wake, nil)
        }

        deinit { pthread_cond_destroy(&wake) }
    }

    private let writer: DatabaseQueue
    private var mutex = pthread_mutex_t()
    private var idle = pthread_cond_t()
    private var queue: [Pending] = []
    private var leaderActive = false
    private let maximumBatch = 128

    init(writer: DatabaseQueue) {
        self.writer = writer
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&idle, nil)
    }

    deinit {
        pthread_cond_destroy(&idle)
        pthread_mutex_destroy(&mutex)
    }

    /// Runs `body` in a savepoint of the next group transaction and returns
    /// once that transaction is committed (or has failed).
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        try withoutActuallyEscaping(body) { body in
            let outcome = Outcome<T>()
            try submit(Pending { db in
                outcome.result = Result { try body(db) }
                if case .failure = outcome.result { return true }
                return false
            })
            return try outcome.result!.get()
        }
    }

    /// Runs `body` alone on the writer, with no group transaction open (migrations).
    func exclusive<T>(_ body: (DatabaseQueue) throws -> T) throws -> T {
        pthread_mutex_lock(&mutex)
        while leaderActive { pthread_cond_wait(&idle, &mutex) }
        leaderActive = true
        pthread_mutex_unlock(&mutex)
        defer {
            pthread_mutex_lock(&mutex)
            handOffLeadership()
            pthread_mutex_unlock(&mutex)
        }
        return try body(writer)
    }

    private func submit(_ pending: Pending) throws {
        pthread_mutex_lock(&mutex)
        queue.append(pending)
        if !leaderActive {
            leaderActive = true
            pending.promoted = true
        }
        while !pending.done && !pending.promoted { pthread_cond_wait(&pending.wake, &mutex) }
        if !pending.done {
            // Leader: this write is first in the queue, so it is in the batch taken now.
            let batch = Array(queue.prefix(maximumBatch))
            queue.removeFirst(batch.count)
            pthread_mutex_unlock(&mutex)
            let error = commit(batch)
            pthread_mutex_lock(&mutex)
            for member in batch {
                member.commitError = error
                member.done = true
                if member !== pending { pthread_cond_signal(&member.wake) }
            }
            handOffLeadership()
        }
        pthread_mutex_unlock(&mutex)
        if let error = pending.commitError { throw error }
    }

    /// With the mutex held: the first queued write leads next, or the writer is idle.
    private func handOffLeadership() {
        if let next = queue.first {
            next.promoted = true
            pthread_cond_signal(&next.wake)
        } else {
            leaderActive = false
            pthread_cond_broadcast(&idle)
        }
    }

    /// One transaction for the batch; the error of BEGIN or COMMIT, if any,
    /// belongs to every member (a member's own error stays in its outcome).
    private func commit(_ batch: [Pending]) -> (any Error)? {
        do {
            return try writer.inDatabase { db -> (any Error)? in
                try db.cachedStatement(sql: "BEGIN IMMEDIATE").execute()
                do {
                    for member in batch {
                        try db.cachedStatement(sql: "SAVEPOINT member").execute()
                        if member.run(db) {
                            guard db.isInsideTransaction else { throw GroupCommitError.transactionAborted }
                            try db.cachedStatement(sql: "ROLLBACK TO member").execute()
                        }
                        try db.cachedStatement(sql: "RELEASE member").execute()
                    }
                    try db.cachedStatement(sql: "COMMIT").execute()
                    return nil
                } catch {
                    if db.isInsideTransaction { try? db.cachedStatement(sql: "ROLLBACK").execute() }
                    return error
                }
            }
        } catch {
            return error
        }
    }
}

/// Where a write run on the leader's thread leaves its result for its caller.
private final class Outcome<T> {
    var result: Result<T, any Error>?
}

/// A write failed in a way that ended the whole group transaction (SQLite
/// rolls back by itself on some I/O and full-disk errors): no member of the
/// batch was committed.
enum GroupCommitError: Error {
    case transactionAborted
}
