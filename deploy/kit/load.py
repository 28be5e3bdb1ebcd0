"""deploy/load: load-tests a running deployment through its nginx, as an operator
would against their own stack. See `deploy/load --help`."""
import argparse
import http.client
import itertools
import json
import os
import random
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse

OPERATIONS = ("list", "get", "members", "add", "remove", "reorder", "create", "update", "delete")
DESCRIPTIONS = {
    "list": "GET /collections (limit and offset vary)",
    "get": "GET /collections/{id}",
    "members": "GET /collections/{id}/tracks (offset varies)",
    "add": "POST /collections/{id}/tracks",
    "remove": "DELETE /collections/{id}/tracks/{track}",
    "reorder": "PATCH /collections/{id}/order with If-Match",
    "create": "POST /collections with Idempotency-Key (1 in 8 a retry)",
    "update": "PATCH /collections/{id} with If-Match",
    "delete": "DELETE /collections/{id} (one of its own)",
}
MIXES = {
    "read-heavy": dict(list=15, get=30, members=35, add=5, remove=4, reorder=3, create=3, update=4, delete=1),
    "write-heavy": dict(list=5, get=10, members=15, add=25, remove=20, reorder=10, create=7, update=6, delete=2),
}
EXPECTED = {name: (201 if name == "create" else 200) for name in OPERATIONS}
# A collection's members in this run: enough for paging to matter, one page to resync.
MEMBER_CAP = 100
TRACKS_WANTED = 500
# Every collection a run makes is named "<NAME_PREFIX><run id> ...", so --purge finds them.
NAME_PREFIX = "deploy/load "
EXIT_OK, EXIT_FAILED, EXIT_SETUP, EXIT_INTERRUPTED = 0, 1, 2, 130

HELP = f"""\
Load-tests a deployment of the music collections API through its nginx.

It seeds what it needs through the API itself: collections of its own (named
"deploy/load <run id> ..."), filled with tracks the key can already see
(GET /v1/music/{{org}}/tracks). Tracks are created by music-admin on the
server, not through the API: with no track visible to the key, it stops before
the run. Each connection works on collections of its own, so every answer has
one expected status; 429s (nginx's rate and connection limits) are counted
apart, as the limits working, not as failures. Afterwards, also when the run
fails or is interrupted (Ctrl-C, SIGTERM), it deletes every collection it
created and checks with list calls that none is left.

operations (--weights NAME=N,...):
""" + "".join(f"  {name:8} {text}\n" for name, text in DESCRIPTIONS.items()) + """
mixes (weights out of 100):
""" + "".join(f"  {name:12} " + ",".join(f"{k}={v}" for k, v in weights.items()) + "\n" for name, weights in MIXES.items()) + """
The key is read from --key, --key-file or $MUSIC_API_KEY (the last two keep it
out of the process list); it is never printed.

exit status: 0 all well; 1 a 5xx, an unexpected status, a transport error, an
operation of the mix that never succeeded, a collection left behind (or a 429
with --fail-on-429); 2 setup failed (bad key, no tracks, unreachable); 130
interrupted (after the cleanup).
"""


def parse_weights(text):
    weights = dict.fromkeys(OPERATIONS, 0)
    for part in text.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in weights or not value.strip().isdigit():
            raise argparse.ArgumentTypeError(f"--weights takes NAME=N,... with NAME one of {', '.join(OPERATIONS)}")
        weights[name] = int(value)
    if not any(weights.values()):
        raise argparse.ArgumentTypeError("--weights: at least one weight above 0")
    return weights


def parse_arguments(argv):
    parser = argparse.ArgumentParser(prog="deploy/load", description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the deployment's base URL, e.g. https://api.example.com "
                        "(or .../v1/music/ORG, which gives the organization too)")
    parser.add_argument("--org", help="the organization id (org_...)")
    parser.add_argument("--key", help="the API key (prefer --key-file or $MUSIC_API_KEY)")
    parser.add_argument("--key-file", help="a file holding the API key")
    parser.add_argument("--mix", choices=[*MIXES, "custom"], default="read-heavy")
    parser.add_argument("--weights", type=parse_weights, help="with --mix custom: NAME=N,... (operations above; others 0)")
    parser.add_argument("--connections", type=int, default=8, help="client connections, one thread each (default 8)")
    parser.add_argument("--duration", type=float, default=30, help="seconds of load (default 30)")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="stop after this many requests (default 1000000)")
    parser.add_argument("--rate", type=float, help="requests per second for the whole run (seeding and cleanup "
                        "included), to stay below the deployment's rate limits; default unpaced")
    parser.add_argument("--http2", action="store_true", help="HTTP/2 over TLS (h2); one stream at a time per connection")
    parser.add_argument("--insecure", action="store_true", help="do not verify the server's certificate")
    parser.add_argument("--cacert", help="verify the server's certificate against this CA file")
    parser.add_argument("--source", help="local address to connect from (a load generator with several addresses)")
    parser.add_argument("--collections", type=int, default=2, help="collections seeded per connection (default 2)")
    parser.add_argument("--seed-members", type=int, default=10, help="tracks added to each seeded collection (default 10)")
    parser.add_argument("--timeout", type=float, default=10, help="seconds per request (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--fail-on-429", action="store_true", help="exit 1 when any request was rate limited")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--purge", action="store_true", help="run nothing: delete the caller's collections named "
                        f"\"{NAME_PREFIX}...\" (left by a run that was killed outright), then exit")
    args = parser.parse_args(argv)

    parsed = urllib.parse.urlsplit(args.url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        parser.error("--url: an http:// or https:// URL")
    segments = [s for s in parsed.path.split("/") if s]
    if len(segments) >= 3 and segments[:2] == ["v1", "music"]:
        args.org = args.org or segments[2]
    if not args.org:
        parser.error("give --org, or a --url ending in /v1/music/ORG")
    args.scheme, args.host = parsed.scheme, parsed.hostname
    args.port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if args.http2 and args.scheme != "https":
        parser.error("--http2 needs an https:// URL (HTTP/2 over TLS)")
    if args.key_file:
        with open(args.key_file) as handle:
            args.key = handle.read().strip()
    args.key = args.key or os.environ.get("MUSIC_API_KEY")
    if not args.key:
        parser.error("no API key: --key, --key-file or $MUSIC_API_KEY")
    if args.mix == "custom":
        if not args.weights:
            parser.error("--mix custom needs --weights")
    elif args.weights:
        parser.error("--weights goes with --mix custom")
    else:
        args.weights = dict(MIXES[args.mix])
    for name in ("connections", "collections", "max_requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} is at least 1")
    if args.duration <= 0 or args.timeout <= 0 or (args.rate is not None and args.rate <= 0):
        parser.error("--duration, --timeout and --rate are above 0")
    if not 0 <= args.seed_members <= MEMBER_CAP:
        parser.error(f"--seed-members is 0 to {MEMBER_CAP}")
    return args


# --- Transport: one connection per thread, keep-alive, HTTP/1.1 or HTTP/2 ---

class TransportError(Exception):
    pass


def ssl_context(args, alpn):
    context = ssl.create_default_context(cafile=args.cacert) if args.cacert else ssl.create_default_context()
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols([alpn])
    return context


class HTTP1:
    # What a kept-alive connection that the server closed while it was idle (nginx's
    # keepalive_timeout, 20 s by default: a slow --rate leaves connections idle that
    # long) gives on its next request. The server never read that request, so it is
    # sent again, once, on a new connection, whatever its method.
    # Over TLS the write of a request with a body already fails (SSLEOFError).
    STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
             ssl.SSLEOFError, ssl.SSLZeroReturnError)

    def __init__(self, args):
        source = (args.source, 0) if args.source else None
        if args.scheme == "https":
            self.connection = http.client.HTTPSConnection(args.host, args.port, timeout=args.timeout,
                                                          source_address=source, context=ssl_context(args, "http/1.1"))
        else:
            self.connection = http.client.HTTPConnection(args.host, args.port, timeout=args.timeout, source_address=source)
        self.reused = False

    def request(self, method, path, headers, body):
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                self.reused = not response.will_close
                if response.will_close:
                    self.connection.close()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, data
            except (OSError, http.client.HTTPException) as error:
                self.connection.close()  # the next request opens a new connection
                stale, self.reused = self.reused and isinstance(error, self.STALE), False
                if stale and attempt == 1:
                    continue
                raise TransportError(type(error).__name__) from None

    def close(self):
        self.connection.close()


class HTTP2:
    """A minimal HTTP/2 client over TLS: one stream at a time on one connection."""

    def __init__(self, args):
        import h2.config  # only --http2 needs h2 (deploy/test installs it)
        import h2.connection
        import h2.events
        import h2.exceptions
        self.h2 = h2
        self.args = args
        self.context = ssl_context(args, "h2")
        self.authority = args.host if args.port == 443 else f"{args.host}:{args.port}"
        self.socket = None

    def connect(self):
        args = self.args
        raw = socket.create_connection((args.host, args.port), timeout=args.timeout,
                                       source_address=(args.source, 0) if args.source else None)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.socket = self.context.wrap_socket(raw, server_hostname=args.host)
        except Exception:
            raw.close()
            raise
        if self.socket.selected_alpn_protocol() != "h2":
            self.close()
            raise TransportError("the server did not agree to HTTP/2 (ALPN)")
        config = self.h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.connection = graceful_goaway_connection(self.h2)(config=config)
        self.connection.initiate_connection()
        self.socket.sendall(self.connection.data_to_send())
        self.going_away = False

    def request(self, method, path, headers, body):
        for attempt in (1, 2):
            try:
                return self.exchange(method, path, headers, body)
            except NotProcessed:
                # GOAWAY named a last stream below ours: nginx never saw the
                # request, so sending it again on a new connection is safe.
                self.close()
                if attempt == 2:
                    raise TransportError("GOAWAY twice") from None
            except TransportError:
                self.close()
                raise
            except (OSError, self.h2.exceptions.ProtocolError) as error:
                self.close()
                raise TransportError(f"{type(error).__name__}: {error}"[:120]) from None

    def exchange(self, method, path, headers, body):
        if self.socket is None or self.going_away:
            self.close()
            self.connect()
        events = self.h2.events
        stream = self.connection.get_next_available_stream_id()
        fields = [(":method", method), (":scheme", "https"), (":authority", self.authority), (":path", path)]
        fields += [(k.lower(), v) for k, v in headers.items()]
        self.connection.send_headers(stream, fields, end_stream=body is None)
        if body is not None:
            self.connection.send_data(stream, body, end_stream=True)
        self.socket.sendall(self.connection.data_to_send())
        status, answer, data = None, {}, bytearray()
        while True:
            chunk = self.socket.recv(65536)
            if not chunk:
                raise TransportError("connection closed")
            for event in self.connection.receive_data(chunk):
                if isinstance(event, events.ResponseReceived) and event.stream_id == stream:
                    answer = dict(event.headers)
                    status = int(answer.pop(":status"))
                elif isinstance(event, events.DataReceived):
                    if event.stream_id == stream:
                        data += event.data
                    self.connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, events.StreamReset) and event.stream_id == stream:
                    raise TransportError(f"stream reset ({event.error_code})")
                elif isinstance(event, events.ConnectionTerminated):
                    self.going_away = True
                    if event.last_stream_id is not None and event.last_stream_id < stream:
                        raise NotProcessed()
                elif isinstance(event, events.StreamEnded) and event.stream_id == stream:
                    pending = self.connection.data_to_send()
                    if pending:
                        self.socket.sendall(pending)
                    if status is None:
                        raise TransportError("stream ended without headers")
                    return status, answer, bytes(data)
            pending = self.connection.data_to_send()
            if pending:
                self.socket.sendall(pending)

    def close(self):
        if self.socket is not None:
            try:
                self.socket.close()
            except OSError:
                pass
        self.socket = None


class NotProcessed(Exception):
    pass


def graceful_goaway_connection(h2):
    """h2's connection, except that a graceful GOAWAY (NO_ERROR) leaves the
    streams it names still open to their answers (RFC 9113, 6.8): nginx sends
    one before the answer to a connection's last request (keepalive_requests,
    1000 by default), and h2 alone would refuse that answer's frames."""

    class Connection(h2.connection.H2Connection):
        def _receive_goaway_frame(self, frame):
            state = self.state_machine.state
            result = super()._receive_goaway_frame(frame)
            if frame.error_code == 0:
                self.state_machine.state = state
            return result

    return Connection


# --- Pacing, stopping, statistics ---

class Pacer:
    """Spaces requests 1/rate apart over all threads; never catches up in a burst."""

    def __init__(self, rate):
        self.interval = 1 / rate if rate else 0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self, stop):
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            slot = max(self.next, now)
            self.next = slot + self.interval
        while not stop.is_set():
            left = slot - time.monotonic()
            if left <= 0:
                return
            stop.wait(min(left, 0.2))


class Stats:
    def __init__(self):
        self.statuses = {name: {} for name in OPERATIONS}
        self.latencies = {name: [] for name in OPERATIONS}  # seconds, 2xx answers
        self.transport = {name: 0 for name in OPERATIONS}
        self.requests = 0
        self.problems = 0  # 5xx, unexpected statuses and transport errors
        self.limited = 0   # 429s

    def record(self, name, status, seconds):
        self.requests += 1
        if status is None:
            self.transport[name] += 1
            self.problems += 1
            return
        self.statuses[name][status] = self.statuses[name].get(status, 0) + 1
        if status == 429:
            self.limited += 1
        elif status != EXPECTED[name]:
            self.problems += 1
        if 200 <= status < 300:
            self.latencies[name].append(seconds)


# --- The client's model of its own collections ---

class Collection:
    def __init__(self, identifier, etag, name, description=None):
        self.id = identifier
        self.etag = etag
        self.name = name
        self.description = description
        self.members = []
        self.stale = False  # after an answer the model cannot account for: read it again


class Run:
    """What every thread shares: settings, tracks, the stop signal, counters."""

    def __init__(self, args):
        self.args = args
        self.id = f"{int(time.time()):x}{random.Random(args.seed ^ os.getpid()).randrange(16 ** 4):04x}"
        self.prefix = f"{NAME_PREFIX}{self.id} "
        self.base = f"/v1/music/{args.org}"
        self.headers = {"X-API-Key": args.key, "Accept": "application/json", "User-Agent": "deploy-load"}
        self.pacer = Pacer(args.rate)
        self.stop = threading.Event()
        self.interrupted = threading.Event()
        self.counter = itertools.count()
        self.tracks = []
        self.created = {}  # collection id -> name, every collection this run made
        self.created_lock = threading.Lock()
        self.setup_stats = Stats()
        self.deleted = 0  # by the cleanup
        self.transport_reasons = {}
        schedule = [name for name in OPERATIONS for _ in range(args.weights[name])]
        # A shuffled cycle, followed by every thread in turn: any run of one
        # cycle's length (the sum of the weights) holds every operation of the mix.
        random.Random(args.seed).shuffle(schedule)
        self.schedule = schedule

    def connection(self):
        return HTTP2(self.args) if self.args.http2 else HTTP1(self.args)

    def call(self, transport, method, path, body=None, headers=None, stop=None):
        """One request, paced: (status or None for a transport error, headers, parsed body, seconds)."""
        self.pacer.wait(stop or self.stop)
        all_headers = dict(self.headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        if headers:
            all_headers.update(headers)
        started = time.perf_counter()
        try:
            status, answer, data = transport.request(method, self.base + path, all_headers, payload)
        except TransportError as error:
            reason = str(error)
            with self.created_lock:
                self.transport_reasons[reason] = self.transport_reasons.get(reason, 0) + 1
            return None, {}, None, time.perf_counter() - started
        seconds = time.perf_counter() - started
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return status, answer, parsed, seconds

    def setup_call(self, transport, method, path, body=None, headers=None, stop=None, accept=(200,)):
        """A seeding or cleanup request: waits out 429s (a few times), fails loudly otherwise."""
        for _ in range(20):
            status, answer, parsed, seconds = self.call(transport, method, path, body, headers, stop)
            self.setup_stats.requests += 1
            if status == 429:
                self.setup_stats.limited += 1
                (stop or self.stop).wait(float(answer.get("retry-after", "1") or 1))
                continue
            if status in accept:
                return status, answer, parsed
            raise SetupError(f"{method} {redact(self.base + path)}: {describe(status, parsed)}")
        raise SetupError(f"{method} {redact(self.base + path)}: still rate limited (429) after 20 tries")

    def remember(self, identifier, name):
        with self.created_lock:
            self.created[identifier] = name


class SetupError(Exception):
    pass


def redact(path):
    return path.split("?")[0]


def describe(status, parsed):
    if status is None:
        return "no answer (connection failed or timed out)"
    code = (parsed or {}).get("error", {}).get("code") if isinstance(parsed, dict) else None
    return f"{status} {code}" if code else str(status)


# --- One connection's work ---

class Worker(threading.Thread):
    def __init__(self, run, index):
        super().__init__(name=f"load-{index}", daemon=True)
        self.run_state = run
        self.index = index
        self.random = random.Random(run.args.seed * 1000 + index)
        self.stats = Stats()
        self.pool = []
        self.creates = 0
        self.last_create = None  # (key, body, collection id) for a retry
        self.error = None
        self.seeded = threading.Event()
        self.go = threading.Event()

    def run(self):
        run = self.run_state
        self.transport = run.connection()
        try:
            self.seed()
        except SetupError as error:
            self.error = error
        finally:
            self.seeded.set()
        try:
            if self.error is None:
                self.go.wait()
                while not run.stop.is_set():
                    n = next(run.counter)
                    if n >= run.args.max_requests:
                        run.stop.set()
                        break
                    self.step(run.schedule[n % len(run.schedule)])
        finally:
            self.transport.close()

    def seed(self):
        run, args = self.run_state, self.run_state.args
        for _ in range(args.collections):
            if run.stop.is_set():
                return
            name = f"{run.prefix}seed {self.index}-{len(self.pool)}"
            _, answer, parsed = run.setup_call(self.transport, "POST", "/collections", {"name": name}, accept=(201,))
            run.remember(parsed["id"], name)
            collection = Collection(parsed["id"], answer.get("etag"), name)
            self.pool.append(collection)
            for track in self.random.sample(run.tracks, min(args.seed_members, len(run.tracks))):
                if run.stop.is_set():
                    return
                _, answer, _ = run.setup_call(self.transport, "POST", f"/collections/{collection.id}/tracks",
                                              {"track_id": track})
                collection.members.append(track)
                collection.etag = answer.get("etag")

    def pick(self):
        collection = self.random.choice(self.pool)
        if collection.stale:
            self.resync(collection)
        return collection

    def resync(self, collection):
        run = self.run_state
        status, answer, parsed, _ = run.call(self.transport, "GET", f"/collections/{collection.id}/tracks?limit=500")
        if status == 200:
            collection.members = [item["track_id"] for item in parsed["items"]]
            collection.etag = answer.get("etag")
            collection.stale = False
        elif status == 404:
            self.pool.remove(collection)
            if not self.pool:
                self.create_collection()

    def record(self, name, status, seconds, collection=None):
        self.stats.record(name, status, seconds)
        if collection is not None and status != 429 and status != EXPECTED[name]:
            collection.stale = True

    def step(self, name):
        getattr(self, "op_" + name)()

    def op_list(self):
        run = self.run_state
        ours = sum(len(worker.pool) for worker in run.workers)
        limit = self.random.choice((10, 20, 50))
        offset = self.random.randrange(0, max(1, ours))
        status, _, _, seconds = run.call(self.transport, "GET", f"/collections?limit={limit}&offset={offset}")
        self.record("list", status, seconds)

    def op_get(self):
        collection = self.pick()
        status, answer, _, seconds = self.run_state.call(self.transport, "GET", f"/collections/{collection.id}")
        self.record("get", status, seconds, collection)
        if status == 200:
            collection.etag = answer.get("etag")

    def op_members(self):
        collection = self.pick()
        limit = self.random.choice((5, 10, 25))
        offset = self.random.randrange(0, max(1, len(collection.members)))
        status, answer, _, seconds = self.run_state.call(
            self.transport, "GET", f"/collections/{collection.id}/tracks?limit={limit}&offset={offset}")
        self.record("members", status, seconds, collection)
        if status == 200:
            collection.etag = answer.get("etag")

    def op_add(self):
        collection = self.pick()
        tracks = self.run_state.tracks
        if len(collection.members) >= min(MEMBER_CAP, len(tracks)):
            track = self.random.choice(collection.members)  # an idempotent add: "already in collection"
        else:
            present = set(collection.members)
            track = self.random.choice(tracks)
            while track in present:
                track = self.random.choice(tracks)
        status, answer, _, seconds = self.run_state.call(self.transport, "POST", f"/collections/{collection.id}/tracks",
                                                         {"track_id": track})
        self.record("add", status, seconds, collection)
        if status == 200:
            if track not in collection.members:
                collection.members.append(track)
            collection.etag = answer.get("etag")

    def op_remove(self):
        collection = self.pick()
        if collection.members:
            track = self.random.choice(collection.members)
        else:
            track = self.random.choice(self.run_state.tracks)  # "not in collection"
        status, answer, _, seconds = self.run_state.call(
            self.transport, "DELETE", f"/collections/{collection.id}/tracks/{track}")
        self.record("remove", status, seconds, collection)
        if status == 200:
            if track in collection.members:
                collection.members.remove(track)
            collection.etag = answer.get("etag")

    def op_reorder(self):
        collection = self.pick()
        moved = self.random.sample(collection.members, min(len(collection.members), 5))
        headers = {"If-Match": collection.etag} if collection.etag else {}
        status, answer, _, seconds = self.run_state.call(
            self.transport, "PATCH", f"/collections/{collection.id}/order", {"ordered_track_ids": moved}, headers)
        self.record("reorder", status, seconds, collection)
        if status == 200:
            collection.members = moved + [t for t in collection.members if t not in moved]
            collection.etag = answer.get("etag")

    def op_update(self):
        collection = self.pick()
        description = f"updated {self.random.randrange(10 ** 9)}"
        headers = {"If-Match": collection.etag} if collection.etag else {}
        status, answer, _, seconds = self.run_state.call(
            self.transport, "PATCH", f"/collections/{collection.id}", {"description": description}, headers)
        self.record("update", status, seconds, collection)
        if status == 200:
            collection.description = description
            collection.etag = answer.get("etag")

    def op_create(self):
        self.create_collection()

    def create_collection(self):
        run = self.run_state
        if self.last_create and self.random.randrange(8) == 0:
            # A client's retry: the same key and body replay the first answer.
            key, body, identifier = self.last_create
            status, answer, parsed, seconds = run.call(self.transport, "POST", "/collections", body,
                                                       {"Idempotency-Key": key})
            self.record("create", status, seconds)
            if status == 201 and (answer.get("idempotent-replayed") != "true" or (parsed or {}).get("id") != identifier):
                if (parsed or {}).get("id"):
                    run.remember(parsed["id"], body["name"])
                statuses = self.stats.statuses["create"]
                statuses["201 not a replay"] = statuses.get("201 not a replay", 0) + 1
                self.stats.problems += 1
            return
        self.creates += 1
        name = f"{run.prefix}{self.index}-{self.creates}"
        key = f"deploy-load-{run.id}-{self.index}-{self.creates}"
        body = {"name": name, "description": "made by deploy/load"}
        status, answer, parsed, seconds = run.call(self.transport, "POST", "/collections", body, {"Idempotency-Key": key})
        self.record("create", status, seconds)
        if status == 201:
            run.remember(parsed["id"], name)
            self.pool.append(Collection(parsed["id"], answer.get("etag"), name, body["description"]))
            self.last_create = (key, body, parsed["id"])

    def op_delete(self):
        if len(self.pool) < 2:
            self.create_collection()  # keeps one collection to work on
            return
        collection = self.pool[-1]
        status, _, _, seconds = self.run_state.call(self.transport, "DELETE", f"/collections/{collection.id}")
        self.record("delete", status, seconds)
        if status == 200:
            self.pool.pop()
            if self.last_create and self.last_create[2] == collection.id:
                self.last_create = None
            with self.run_state.created_lock:
                self.run_state.created.pop(collection.id, None)


# --- Setup, cleanup, report ---

def load_tracks(run):
    transport = run.connection()
    try:
        tracks, offset = [], 0
        while len(tracks) < TRACKS_WANTED:
            _, _, parsed = run.setup_call(transport, "GET", f"/tracks?limit=100&offset={offset}")
            items = parsed.get("items", [])
            tracks += [item["id"] for item in items]
            if len(items) < 100:
                break
            offset += 100
        return tracks
    finally:
        transport.close()


def cleanup(run):
    """Deletes every collection of this run, then lists the caller's collections
    to find any left (also those a lost answer kept from the books). Returns the
    ids still there."""
    stop = threading.Event()  # cleanup ignores run.stop; a second Ctrl-C ends it
    run.cleanup_stop = stop
    with run.created_lock:
        pending = list(run.created)
    for attempt in range(3):
        if pending:
            delete_all(run, pending, stop)
        if stop.is_set():
            break
        left = scan(run, stop)
        if not left:
            return []
        pending = left
        with run.created_lock:
            for identifier in left:
                run.created.setdefault(identifier, "")
    with run.created_lock:
        return sorted(run.created)


def delete_all(run, identifiers, stop):
    queue = list(identifiers)
    lock = threading.Lock()

    def deleter():
        transport = run.connection()
        try:
            while not stop.is_set():
                with lock:
                    if not queue:
                        return
                    identifier = queue.pop()
                try:
                    status, _, _ = run.setup_call(transport, "DELETE", f"/collections/{identifier}", stop=stop,
                                                  accept=(200, 404))
                    if status == 200:
                        run.deleted += 1
                    with run.created_lock:
                        run.created.pop(identifier, None)
                except SetupError:
                    pass  # the scan afterwards finds it
        finally:
            transport.close()

    threads = [threading.Thread(target=deleter, daemon=True) for _ in range(min(run.args.connections, len(queue)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def scan(run, stop):
    """Ids of the caller's collections that this run made (by id or by name)."""
    transport = run.connection()
    try:
        left, offset = [], 0
        while not stop.is_set():
            _, _, parsed = run.setup_call(transport, "GET", f"/collections?limit=100&offset={offset}", stop=stop)
            items = parsed.get("items", [])
            with run.created_lock:
                left += [item["id"] for item in items
                         if item["id"] in run.created or str(item.get("name", "")).startswith(run.prefix)]
            if len(items) < 100:
                break
            offset += 100
        return left
    finally:
        transport.close()


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(run, workers, elapsed, out):
    args = run.args
    total = Stats()
    for worker in workers:
        for name in OPERATIONS:
            for status, count in worker.stats.statuses[name].items():
                total.statuses[name][status] = total.statuses[name].get(status, 0) + count
            total.latencies[name] += worker.stats.latencies[name]
            total.transport[name] += worker.stats.transport[name]
        total.requests += worker.stats.requests
        total.problems += worker.stats.problems
        total.limited += worker.stats.limited
    protocol = "HTTP/2" if args.http2 else ("HTTP/1.1 over TLS" if args.scheme == "https" else "HTTP/1.1")
    rate = f"paced at {args.rate:g} req/s" if args.rate else "unpaced"
    interrupted = " (interrupted)" if run.interrupted.is_set() else ""
    print(f"\ndeploy/load run {run.id}: {args.scheme}://{args.host}:{args.port} {args.org}, {protocol}, "
          f"mix {args.mix}, {args.connections} connections, {elapsed:.1f} s{interrupted}, {rate}", file=out)
    print(f"{'operation':10} {'requests':>9} {'req/s':>8} {'2xx/s':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses", file=out)
    failures, missing = [], []
    for name in OPERATIONS:
        statuses = total.statuses[name]
        count = sum(statuses.values()) + total.transport[name]
        if not args.weights[name] and not count:
            continue
        p50, p99 = percentile(total.latencies[name], 0.5), percentile(total.latencies[name], 0.99)
        shown = " ".join(f"{status}:{n}" for status, n in sorted(statuses.items(), key=lambda kv: str(kv[0])))
        if total.transport[name]:
            shown += f" transport-errors:{total.transport[name]}"
        ok = sum(n for status, n in statuses.items() if isinstance(status, int) and 200 <= status < 300)
        print(f"{name:10} {count:9} {count / elapsed:8.1f} {ok / elapsed:8.1f} {ms(p50):>8} {ms(p99):>8}  {shown}", file=out)
        for status, n in statuses.items():
            if status != EXPECTED[name] and status != 429:
                failures.append(f"{name}: {n} x {status}" + (" (server error)" if isinstance(status, int) and status >= 500 else " (unexpected)"))
        if total.transport[name]:
            failures.append(f"{name}: {total.transport[name]} transport errors (no answer: connection failed, closed or timed out)")
        if args.weights[name] and not statuses.get(EXPECTED[name]) and not run.interrupted.is_set():
            missing.append(name)
    ok = sum(len(values) for values in total.latencies.values())
    print(f"{'total':10} {total.requests:9} {total.requests / elapsed:8.1f} {ok / elapsed:8.1f}", file=out)
    print("p50/p99: answers with a 2xx status, client-side, through nginx.", file=out)
    if total.limited:
        print(f"429 (rate limited by nginx, not a failure of the service): {total.limited} "
              f"({100 * total.limited / max(1, total.requests):.1f}%): the per-key, per-address or connection limits "
              f"(MUSIC_RATE_LIMIT, MUSIC_ADDRESS_RATE_LIMIT, MUSIC_ADDRESS_CONNECTIONS); pace the run with --rate", file=out)
    else:
        print("429 (rate limited): none", file=out)
    print(f"seeding and cleanup: {run.setup_stats.requests} requests ({run.setup_stats.limited} x 429, waited out)", file=out)
    for line in failures:
        print(f"FAILED {line}", file=out)
    if run.transport_reasons:
        print("transport errors by cause: " + ", ".join(f"{reason}: {n}" for reason, n in sorted(run.transport_reasons.items())),
              file=out)
    for name in missing:
        print(f"FAILED {name}: never answered {EXPECTED[name]} (run longer, or more --max-requests)", file=out)
    return total, failures, missing


def ms(value):
    return "-" if value is None else f"{value * 1000:.1f}"


def main(argv):
    args = parse_arguments(argv)
    out = sys.stdout
    say = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    run = Run(args)
    run.workers = []

    def interrupt(signum, frame):
        if run.interrupted.is_set():
            # A second interrupt: give up the cleanup too.
            getattr(run, "cleanup_stop", run.stop).set()
        run.interrupted.set()
        run.stop.set()
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)

    if args.purge:
        run.prefix = NAME_PREFIX
        try:
            left = cleanup(run)
        except SetupError as error:
            print(f"deploy/load: purge failed: {error}", file=sys.stderr)
            return EXIT_SETUP
        print(f"purge: {run.deleted} deleted; " + (f"{len(left)} collections named \"{NAME_PREFIX}...\" left" if left
              else f"no collection named \"{NAME_PREFIX}...\" is left"))
        return EXIT_FAILED if left else EXIT_OK

    try:
        run.tracks = load_tracks(run)
    except SetupError as error:
        print(f"deploy/load: cannot read the organization's tracks: {error}", file=sys.stderr)
        return EXIT_SETUP
    if not run.tracks:
        print(f"deploy/load: no track is visible to this key in {args.org} (GET /v1/music/{args.org}/tracks is empty). "
              "Tracks are made on the server, not through the API: add some with `music-admin track create` or "
              "`music-admin track import`, then run again.", file=sys.stderr)
        return EXIT_SETUP

    status = EXIT_OK
    elapsed = 0.0
    try:
        say(f"deploy/load run {run.id}: {len(run.tracks)} tracks visible; seeding {args.connections * args.collections} "
            f"collections of {args.seed_members} tracks")
        workers = [Worker(run, index) for index in range(args.connections)]
        run.workers = workers
        for worker in workers:
            worker.start()
        for worker in workers:
            while not worker.seeded.wait(0.2):
                pass
        errors = [worker.error for worker in workers if worker.error]
        if errors or run.stop.is_set():
            run.stop.set()
            for worker in workers:
                worker.go.set()
            if errors:
                print(f"deploy/load: seeding failed: {errors[0]}", file=sys.stderr)
                status = EXIT_SETUP
        else:
            started = time.monotonic()
            for worker in workers:
                worker.go.set()
            deadline = started + args.duration
            last_requests, last_time = 0, started
            while not run.stop.is_set():
                run.stop.wait(max(0.0, min(1.0, deadline - time.monotonic())))
                now = time.monotonic()
                if now >= deadline:
                    run.stop.set()
                requests = sum(w.stats.requests for w in workers)
                if now - last_time >= 0.99 or run.stop.is_set():
                    problems = sum(w.stats.problems for w in workers)
                    limited = sum(w.stats.limited for w in workers)
                    say(f"{now - started:6.1f} s {requests:9} requests {(requests - last_requests) / max(1e-9, now - last_time):8.0f} req/s"
                        f"  errors {problems}  429s {limited}")
                    last_requests, last_time = requests, now
            elapsed = time.monotonic() - started
        for worker in workers:
            worker.join(args.timeout + 5)
    finally:
        say("cleaning up: deleting this run's collections")
        try:
            left = cleanup(run)
        except SetupError as error:
            left = None
            print(f"deploy/load: cleanup failed: {error}", file=sys.stderr)

    if elapsed:
        total, failures, missing = report(run, workers, elapsed, out)
        if failures or missing or (args.fail_on_429 and total.limited):
            status = EXIT_FAILED
        if args.fail_on_429 and total.limited:
            print(f"FAILED {total.limited} requests rate limited (--fail-on-429)", file=out)
    if left is None or left:
        with run.created_lock:
            remaining = sorted(set(left or []) | set(run.created))
        print(f"FAILED cleanup: {len(remaining)} collections of this run are left (named \"{run.prefix}...\"): "
              + " ".join(remaining[:20]) + (" ..." if len(remaining) > 20 else "")
              + "; deploy/load --purge deletes them", file=out)
        status = EXIT_FAILED
    else:
        print("cleanup: every collection of this run deleted (checked with list calls)", file=out)
    if run.interrupted.is_set() and status == EXIT_OK:
        status = EXIT_INTERRUPTED
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
