import FastCGI
import HTTPTypes
import Logging
import MusicAPI
import CoreMetrics

/// The health endpoint's own lane: a FastCGI server of its own, on its own
/// socket, with a few threads that answer `GET /v1/music/health` and nothing else.
///
/// Under overload every request thread is busy and thousands of connections wait
/// in the request socket's backlog; a probe queued there is answered only after
/// them (measured: 5.9 s at 2,048 connections), and a load balancer would eject
/// every worker at once. Here the probe still asks the database (through the
/// shared `HealthCheck`, at most once a second) and still fails when the worker's
/// request threads have stopped making progress (`FastCGIServer.isMakingProgress`),
/// but it never waits for a request thread. What it does not say: how long an API
/// request would wait (the metrics endpoint's backlog and busy gauges do).
enum HealthLane {
    /// Two: one probe in progress never holds up another (nginx keeps idle
    /// connections here, see nginx.conf.template's music_health: parked, they
    /// hold no thread).
    static let threads = 2
    /// Whatever nginx sends here is served only if it is this path.
    static let path = "/v1/music/health"
    /// Seconds with every request thread busy and none finishing a request
    /// before health answers 503: far beyond any request's own time, below
    /// nginx's fastcgi_read_timeout (30 s).
    static let stalledAfterSeconds = 10.0

    static func server(socket: String, api: MusicAPI, requestServer: FastCGIServer) -> FastCGIServer {
        api.setWorkerLiveness { requestServer.isMakingProgress(stalledAfterSeconds: stalledAfterSeconds) }
        return FastCGIServer(
            // park: nginx's idle kept-alive connections wait in the epoll set, not on a
            // thread; a thread reads a connection only once a request is arriving on
            // it, and the I/O timeout bounds each read of a peer that stops sending.
            // A connection that never sends stays parked (a descriptor, no thread)
            // until its peer closes it; the socket (0660) admits the worker's user and group.
            // One connection per probe (bind, no keepalive) answered half as many a
            // second (docs/performance.md, "Health lane").
            configuration: .init(socket: .unix(path: socket), threads: threads, maxBodyBytes: 0, backlog: 64,
                                 drainTimeoutSeconds: 1, connectionIOTimeoutSeconds: 2, keptAlive: .park),
            responder: HealthLaneResponder(api: api),
            logger: Logger(label: "music.health"),
            // The worker loop's figures are the request server's (the same labels).
            metricsFactory: NOOPMetricsHandler.instance)
    }
}

/// Answers health; any other path gets the API's 404 envelope (a misconfigured
/// proxy must not route API traffic onto the lane's few threads).
struct HealthLaneResponder: FastCGIResponder {
    let api: MusicAPI

    func respond(to request: HTTPRequest, body: [UInt8]) -> FastCGIResponse {
        let path = request.path.map { $0.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0] }
        guard path == HealthLane.path[...] else {
            var elsewhere = request
            elsewhere.path = "/v1/music/not-on-the-health-lane"
            return FastCGIResponse(api.respond(to: elsewhere, body: []))
        }
        return FastCGIResponse(api.respond(to: request, body: body))
    }

    func respondToOversizedBody(of request: HTTPRequest, declaredLength: Int) -> FastCGIResponse {
        FastCGIResponse(api.respondToOversizedBody(of: request))
    }

    func respondToMalformedRequest(requestID: String) -> FastCGIResponse {
        FastCGIResponse(api.respondToMalformedRequest(requestID: requestID))
    }
}
