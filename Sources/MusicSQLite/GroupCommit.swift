import GRDB
import MusicSupport
#if canImport(Glibc)
import Glibc
#endif

/// Group commit on the one writer connection: concurrent write transactions are
/// gathered into one SQLite transaction, each in a savepoint of its own, and
/// committed together, so one fsync (`synchronous=FULL`) makes a whole batch
/// durable. Every caller returns only after the commit that holds its changes,
/// so an acknowledged write is on disk exactly as with a commit of its own.
///
/// A writer thread of its own runs the batches: it takes every queued write,
/// runs them in arrival order (a write that throws rolls back to its savepoint
/// and leaves the others alone), commits, wakes the batch's first caller (who
/// wakes two more, each of them two more: see `Waiter`) and goes straight on
/// with the writes that arrived meanwhile.
/// Earlier, the first waiting request thread led each batch and handed the
/// lead to the next one: every batch then waited for a request thread to be
/// scheduled again among 64, and woke its members one signal at a time.
final class GroupCommit: @unchecked Sendable {
    /// One queued write. `run` executes it and says whether it failed.
    private struct Pending {
        let run: (Database) -> Bool
    }

    /// How one caller learns that its batch ended: a semaphore of its own. The
    /// writer posts only the batch's first caller; caller i, once awake, posts
    /// callers 2i+1 and 2i+2. With one broadcast the writer spent a quarter of
    /// each batch's time waking its callers (about 280 us of 1,170 for 14, timed
    /// inside the worker under the add-track load), and the writer is the one
    /// thread every write waits for; now that part takes it about 15 us.
    private final class Waiter {
        var semaphore = sem_t()
        /// Where this caller stands in its batch's `waiters`.
        var index = 0

        init() { sem_init(&semaphore, 0, 0) }
        deinit { sem_destroy(&semaphore) }

        func wait() {
            while sem_wait(&semaphore) != 0 {}
        }

        func post() { sem_post(&semaphore) }
    }

    /// The writes committed together, and how their callers learn it happened.
    private final class Batch {
        var members: [Pending] = []
        /// The callers, in the order they were queued (a tree: caller i wakes 2i+1 and 2i+2).
        var waiters: [Waiter] = []
        /// Set by the writer before it posts the first caller; read by each caller after its wait.
        var commitError: (any Error)?
        /// When the writer began the batch (monotonic ns): set before its BEGIN,
        /// read by each caller after its wait, for `music_write_wait_seconds`.
        var startedAt: UInt64 = 0

        func finish(_ error: (any Error)?) {
            commitError = error
            waiters.first?.post()
        }

        /// Wakes the callers that caller `index` is responsible for.
        func wakeAfter(_ index: Int) {
            let count = waiters.count
            if 2 * index + 1 < count { waiters[2 * index + 1].post() }
            if 2 * index + 2 < count { waiters[2 * index + 2].post() }
        }
    }

    private let writer: DatabaseQueue
    /// Guards `open`, `stopping`, `running` and `writerThread` (set once the first write starts the thread).
    private var mutex = pthread_mutex_t()
    private var work = pthread_cond_t()
    /// Held by the writer thread while it runs a batch, and by `exclusive`.
    private var writerLock = pthread_mutex_t()
    private var open = Batch()
    private var stopping = false
    private var stopped = pthread_cond_t()
    private var running = false
    private var writerThread: pthread_t?

    /// The writer connection's prepared statements (writer thread only).
    private let statements: StatementCache

    /// Runs right after each group transaction's BEGIN, on the writer thread.
    private let transactionBegan: (Database, StatementCache) throws -> Void

    private let metrics: WriteMetrics

    init(writer: DatabaseQueue, statements: StatementCache, metrics: WriteMetrics,
         transactionBegan: @escaping (Database, StatementCache) throws -> Void = { _, _ in }) {
        self.writer = writer
        self.metrics = metrics
        self.statements = statements
        self.transactionBegan = transactionBegan
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&work, nil)
        pthread_cond_init(&stopped, nil)
        pthread_mutex_init(&writerLock, nil)
    }

    deinit {
        pthread_cond_destroy(&work)
        pthread_cond_destroy(&stopped)
        pthread_mutex_destroy(&mutex)
        pthread_mutex_destroy(&writerLock)
    }

    /// Ends the writer thread once the queued writes are committed (the store closes).
    func stop() {
        pthread_mutex_lock(&mutex)
        stopping = true
        pthread_cond_signal(&work)
        let onWriter = writerThread.map { pthread_equal($0, pthread_self()) != 0 } ?? false
        while running && !onWriter { pthread_cond_wait(&stopped, &mutex) }
        pthread_mutex_unlock(&mutex)
    }

    /// Runs `body` in a savepoint of the next group transaction and returns
    /// once that transaction is committed (or has failed).
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        try withoutActuallyEscaping(body) { body in
            let outcome = Outcome<T>()
            let waiter = Waiter()
            let queuedAt = monotonicNanoseconds()
            let batch = enqueue(Pending { db in
                outcome.result = Result { try body(db) }
                if case .failure = outcome.result { return true }
                return false
            }, waiter: waiter)
            waiter.wait()
            // Wake the callers this one is responsible for before anything else.
            batch.wakeAfter(waiter.index)
            // Recorded here rather than by the writer, the one thread every write waits for.
            metrics.wait.recordNanoseconds(Int64(truncatingIfNeeded: batch.startedAt &- min(queuedAt, batch.startedAt)))
            if let error = batch.commitError { throw error }
            return try outcome.result!.get()
        }
    }

    /// Runs `body` alone on the writer, with no group transaction open (migrations, restore).
    func exclusive<T>(_ body: (DatabaseQueue) throws -> T) throws -> T {
        pthread_mutex_lock(&writerLock)
        defer { pthread_mutex_unlock(&writerLock) }
        return try body(writer)
    }

    private func enqueue(_ pending: Pending, waiter: Waiter) -> Batch {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        precondition(!stopping, "write on a closed SQLiteStore")
        if writerThread == nil {
            running = true
            startWriterThread()
        }
        let batch = open
        batch.members.append(pending)
        waiter.index = batch.waiters.count
        batch.waiters.append(waiter)
        metrics.queueDepth.record(batch.members.count)
        if batch.members.count == 1 { pthread_cond_signal(&work) }
        return batch
    }

    private func startWriterThread() {
        writerThread = startThread { [self] in runWriter() }
    }

    /// The writer thread: one batch after another while writes are queued.
    private func runWriter() {
        pthread_mutex_lock(&mutex)
        while true {
            while open.members.isEmpty && !stopping { pthread_cond_wait(&work, &mutex) }
            if open.members.isEmpty && stopping { break }
            let batch = open
            open = Batch()
            metrics.queueDepth.record(0)
            pthread_mutex_unlock(&mutex)
            pthread_mutex_lock(&writerLock)
            batch.startedAt = monotonicNanoseconds()
            let error = commit(batch.members)
            pthread_mutex_unlock(&writerLock)
            metrics.batchSize.record(batch.members.count)
            // The writes' closures must not outlive their callers' `write`.
            batch.members = []
            batch.finish(error)
            pthread_mutex_lock(&mutex)
        }
        running = false
        pthread_cond_broadcast(&stopped)
        pthread_mutex_unlock(&mutex)
    }

    /// One transaction for the batch; the error of BEGIN or COMMIT, if any,
    /// belongs to every member (a member's own error stays in its outcome).
    private func commit(_ batch: [Pending]) -> (any Error)? {
        do {
            return try writer.inDatabase { db -> (any Error)? in
                // Stepped through SQLite's API, like every statement of the service:
                // GRDB's `execute` with its observation hooks cost more than
                // SQLite's own work for these, four to six times per write. (Texts over
                // 15 bytes: `StatementCache` finds them by address.)
                let control = SQLiteTransaction(db: db, statements: statements)
                try control.execute(.beginImmediate, [])
                do {
                    try transactionBegan(db, statements)
                    for member in batch {
                        try control.execute(.savepoint, [])
                        if member.run(db) {
                            guard db.isInsideTransaction else { throw GroupCommitError.transactionAborted }
                            try control.execute(.rollbackToSavepoint, [])
                        }
                        try control.execute(.releaseSavepoint, [])
                    }
                    let committing = monotonicNanoseconds()
                    try control.execute(.commit, [])
                    metrics.commitDuration.recordNanoseconds(Int64(truncatingIfNeeded: monotonicNanoseconds() &- committing))
                    return nil
                } catch {
                    if db.isInsideTransaction { try? control.execute(.rollback, []) }
                    return error
                }
            }
        } catch {
            return error
        }
    }
}

/// Where a write run on the writer thread leaves its result for its caller.
private final class Outcome<T> {
    var result: Result<T, any Error>?
}

/// A write failed in a way that ended the whole group transaction (SQLite
/// rolls back by itself on some I/O and full-disk errors): no member of the
/// batch was committed.
enum GroupCommitError: Error {
    case transactionAborted
}
