@testable import FastCGI
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// How a stopping worker wakes a thread that waits on a kept-alive connection:
/// the thread must come back, and a request already on that connection must
/// still get its answer (nginx does not retry a POST it saw no answer to, so a
/// request run but left unanswered is a write the client is told failed).
@Suite("Waking a thread that waits on a kept-alive connection")
struct WorkerSlotTests {
    /// A connected pair of unix stream sockets: [worker side, nginx side].
    func connectedPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw POSIXError(.EIO) }
        return (fds[0], fds[1])
    }

    @Test("a thread blocked reading its connection returns at once when woken")
    func blockedReaderReturns() throws {
        let (worker, nginx) = try connectedPair()
        defer { close(worker); close(nginx) }
        let slot = WorkerSlot()
        slot.request.pointee.ipcFd = worker
        #expect(slot.enterWaitingOnConnection(unless: { false }))
        let returned = DispatchSemaphore(value: 0)
        let reader = Thread {
            var byte: UInt8 = 0
            _ = read(worker, &byte, 1)
            returned.signal()
        }
        reader.start()
        // The reader may not have entered read yet: a shutdown is persistent, so
        // it returns whenever it gets there.
        #expect(slot.wake() == false)
        #expect(returned.wait(timeout: .now() + 5) == .success, "the woken reader is still blocked")
        slot.request.pointee.ipcFd = -1
    }

    @Test("a request already on the connection when the thread is woken is read and answered")
    func queuedRequestIsAnswered() throws {
        let (worker, nginx) = try connectedPair()
        defer { close(worker); close(nginx) }
        let slot = WorkerSlot()
        slot.request.pointee.ipcFd = worker
        #expect(slot.enterWaitingOnConnection(unless: { false }))
        let request = Array("a request nginx sent just before the stop".utf8)
        #expect(write(nginx, request, request.count) == request.count)
        _ = slot.wake()
        var received = [UInt8](repeating: 0, count: request.count)
        #expect(read(worker, &received, received.count) == request.count)
        #expect(received == request)
        let answer = Array("its answer".utf8)
        // The worker ignores SIGPIPE; here MSG_NOSIGNAL does the same for one call.
        #expect(send(worker, answer, answer.count, Int32(MSG_NOSIGNAL)) == answer.count, "the answer could not be written: errno \(errno)")
        var delivered = [UInt8](repeating: 0, count: answer.count)
        #expect(read(nginx, &delivered, delivered.count) == answer.count)
        slot.request.pointee.ipcFd = -1
    }
}
