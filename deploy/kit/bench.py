#!/usr/bin/env python3
"""The benchmark driver, run by deploy/bench once its stacks and the C floor are up.

Seeds realistic data, runs each wrk scenario through nginx over plain HTTP and
HTTPS against the default deployment (deploy/lib.sh's worker count and threads),
and over HTTP against a one-worker stack on the same database; every scenario
run sits right after a C floor run of its own. Then rows that miss the read
cache, the metrics' cost (health and list tracks against a copy of the default
deployment with metrics off, in alternating rounds), overload rows (256 to 2,048
connections, each beside the floor at the same count, with a /health prober),
HTTP/2 rows with h2load, growth (deep vs
shallow page, adding to a large vs a small collection), worker memory and a full
10,000-track reorder; prints the tables and writes them to var/bench/
(results.md, results.json). Any unexpected status fails the run.
"""
import argparse
import concurrent.futures
import http.client
import json
import math
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from common import music_admin, rss_kib

KIT = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(KIT))


def log(message):
    print(f"==> {message}", file=sys.stderr, flush=True)


class Stack:
    def __init__(self, args):
        self.args = args
        self.http_port = args.http_port
        self.bin = args.bin
        self.db = args.db

    def admin(self, *arguments):
        return music_admin(self.bin, self.db, *arguments)

    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)

    def call(self, connection, method, path, key, body=None):
        headers = {"X-API-Key": key}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:200]!r}")
        return response.status, dict(response.getheaders()), json.loads(payload)

    def parallel(self, requests, key, connections=32):
        """Sends (method, path, body) requests on CONNECTIONS connections at once
        (writes then share group commits); returns the answers in order."""
        local = threading.local()

        def send(request):
            if not hasattr(local, "connection"):
                local.connection = self.connection()
            method, path, body = request
            return self.call(local.connection, method, path, key, body)[2]

        with concurrent.futures.ThreadPoolExecutor(connections) as pool:
            return list(pool.map(send, requests))


# Empty collections for the add scenario, 10,000 new members each: every add run
# starts on targets no earlier run touched (BENCH_TARGET_OFFSET), so each of its
# answers is a new member (scenario.lua counts any other as unexpected). The
# main tables, the one-worker table, the write pairs and the overload rows all
# take fresh ones: add_targets() seeds enough for adds at up to ADD_RATE_BOUND
# a second (the most measured: 14,174 a second over 32 connections, 03:42), and
# the run reports how many it used.
ADD_RATE_BOUND = 25_000
TRACKS = 10_000
FLOOR_ADD = "C floor, add-track requests"
# The cache-miss rows: list pages over the large collections and these smaller
# ones, every offset; gets over as many collections as the read caches of all
# threads of all workers could hold, twice (cache_capacity).
MISS_LIST_COLLECTIONS, MISS_LIST_SIZE, PAGE = 32, 100, 50
LIST_MISS, GET_MISS = "list tracks, cache miss", "get collection, cache miss"
# Overload: wrk's timeout (a request slower than this counts as a timeout, not
# in the latencies) and the /health prober's period and source address (an
# address of its own, so per-address limits never mix it with wrk's).
OVERLOAD_TIMEOUT_S = 10
PROBE_PERIOD_S = 0.1
PROBE_SOURCE = "127.0.0.3"
# HTTP/2 (h2load): 32 connections with one stream each (as wrk's 32
# connections), and 4 connections with 8 streams each (32 in flight, multiplexed).
H2_CONFIGS = [(32, 1), (4, 8)]
# The scenarios run against the default deployment with metrics off too
# (MUSIC_METRICS=off), and the issue's bound on the metrics' cost: on/off
# throughput at least METRICS_MIN_RATIO.
METRICS_SCENARIOS = ["health", "list tracks (10-track, limit 50)"]
METRICS_MIN_RATIO = 0.97
# nginx's keepalive_requests, its default (nginx.conf.template sets none): the
# requests an HTTP/2 connection serves before nginx closes it.
H2_REQUESTS_PER_CONNECTION = 1000


def cache_capacity():
    """Entries per thread of the worker's read cache, from its source (one source)."""
    source = open(os.path.join(ROOT, "Sources", "MusicAPI", "ReadCache.swift")).read()
    match = re.search(r"static let capacity = (\d+)", source)
    if not match:
        raise RuntimeError("ReadCache.swift: no 'static let capacity = N'")
    return int(match.group(1))


def targets_taken(adds, connections):
    """Fresh target collections an add run takes: its adds and the one still in
    flight on each connection when wrk stops, TRACKS to a collection, and the
    next run starts on the collection after."""
    return (adds + connections) // TRACKS + 1


def add_targets(rounds, duration, overload_counts, only=None):
    """Fresh target collections enough for every add run at ADD_RATE_BOUND."""
    per_run = lambda seconds, connections: targets_taken(ADD_RATE_BOUND * seconds, connections)
    main = rounds * 3 * per_run(duration, 32)  # HTTP (default, one worker), HTTPS
    writes = write_pairs(rounds) * 2 * per_run(WRITE_PAIR_SECONDS, 32)
    overload = rounds * sum(per_run(overload_seconds(duration), n) for n in overload_counts)
    return {None: main + writes + overload, "writes": writes, "overload": overload}[only]


def seed(stack, out_dir, get_miss_count, add_target_count):
    """1 organization, 100 users with keys, 10,000 tracks; collections of 10, 1,000
    and 10,000 tracks, the collections the write scenarios use and those the
    cache-miss rows rotate over."""
    log("seeding: 1 organization, 100 users, 10,000 tracks")
    org = stack.admin("org", "create", "--name", "Bench Studio")["id"]
    users = []
    for index in range(100):
        user = stack.admin("user", "create", "--org", org, "--email", f"bench{index}@bench.test",
                           "--capability", "USE_MUSIC_GENERATION")["id"]
        users.append((user, stack.admin("key", "create", "--user", user)["key"]))
    owner, key = users[0]
    tracks_file = os.path.join(out_dir, "tracks.jsonl")
    with open(tracks_file, "w") as handle:
        for index in range(TRACKS):
            handle.write(json.dumps({"title": f"Bench track {index}", "duration": 120 + index % 240,
                                     "instrumental": index % 3 == 0}) + "\n")
    stack.admin("track", "import", "--org", org, "--owner", owner, tracks_file)
    conn = stack.connection()
    query = f"SELECT id FROM tracks WHERE organization_id = '{org}' ORDER BY created_at, id"
    reader = (["psql", "--no-psqlrc", "-At", "-d", stack.args.psql_url, "-c", query] if stack.args.psql_url
              else ["sqlite3", stack.db, query])
    track_ids = [row.strip() for row in subprocess.run(reader, capture_output=True, text=True, check=True).stdout.split()]
    assert len(track_ids) == TRACKS, len(track_ids)
    base = f"/v1/music/{org}/collections"

    def collection(name, size):
        # The adds on 32 connections at once: they share group commits.
        _, _, created = stack.call(conn, "POST", base, key, {"name": name})
        stack.parallel([("POST", f"{base}/{created['id']}/tracks", {"track_id": track}) for track in track_ids[:size]], key)
        return created["id"]

    log("seeding: collections of 10, 1,000 and 10,000 tracks (and 9,000 for growth)")
    started = time.time()
    sizes = {"small": collection("Ten", 10), "medium": collection("Thousand", 1_000),
             "large": collection("Ten thousand", 10_000), "add_large": collection("Nine thousand", 9_000),
             "add_small": collection("Ten for adds", 10)}
    log(f"seeded {sum([10, 1_000, 10_000, 9_000, 10]):,} members in {time.time() - started:.0f} s")
    add_targets = [created["id"] for created in
                   stack.parallel([("POST", base, {"name": f"Adds {index}"}) for index in range(add_target_count)], key)]

    log(f"seeding for the cache-miss rows: {get_miss_count:,} collections, {MISS_LIST_COLLECTIONS} of them "
        f"with {MISS_LIST_SIZE} tracks")
    started = time.time()
    miss = [created["id"] for created in
            stack.parallel([("POST", base, {"name": f"Miss {index}"}) for index in range(get_miss_count)], key)]
    stack.parallel([("POST", f"{base}/{collection_id}/tracks", {"track_id": track})
                    for collection_id in miss[:MISS_LIST_COLLECTIONS] for track in track_ids[:MISS_LIST_SIZE]], key)
    log(f"seeded them in {time.time() - started:.0f} s")
    # Every page of 50 at every offset, of collections with members, shuffled
    # (seeded) so consecutive requests read different collections and pages.
    pages = [(collection_id, size) for collection_id, size in
             [(sizes["large"], 10_000), (sizes["medium"], 1_000)] + [(c, MISS_LIST_SIZE) for c in miss[:MISS_LIST_COLLECTIONS]]]
    list_paths = [f"{base}/{collection_id}/tracks?limit={PAGE}&offset={offset}"
                  for collection_id, size in pages for offset in range(size - PAGE + 1)]
    get_paths = [f"{base}/{collection_id}" for collection_id in miss]
    generator = random.Random(19)
    generator.shuffle(list_paths)
    generator.shuffle(get_paths)
    return {"org": org, "owner": owner, "key": key, "tracks": track_ids, "collections": sizes,
            "add_targets": [f"{base}/{c}/tracks" for c in add_targets], "base": base,
            "list_miss_paths": list_paths, "get_miss_paths": get_paths, "list_miss_collections": len(pages)}


def cpu_seconds(pids):
    """User + system CPU of these processes so far (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):  # a process that ended (ESRCH while it exits)
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


class Side:
    """One nginx and the worker processes behind it: the default deployment, the
    one-worker stack or the C floor."""

    def __init__(self, label, http_port, https_port, worker_pid_files, nginx_pid_file, error_log, metrics_sockets=None):
        self.label, self.http_port, self.https_port = label, http_port, https_port
        self.worker_pid_files, self.nginx_pid_file = worker_pid_files, nginx_pid_file
        self.error_log, self.metrics_sockets = error_log, metrics_sockets

    def url(self, proto):
        return f"{proto}://127.0.0.1:{self.http_port if proto == 'http' else self.https_port}"

    def workers(self):
        return [int(open(path).read()) for path in self.worker_pid_files]

    def processes(self):
        """Every worker process and nginx's worker processes (the master's children)."""
        master = open(self.nginx_pid_file).read().strip()
        nginx = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as handle:
                        if handle.read().rsplit(")", 1)[1].split()[1] == master:
                            nginx.append(int(entry))
                except (FileNotFoundError, ProcessLookupError, IndexError):  # ended meanwhile
                    continue
        return {"worker": self.workers(), "nginx": nginx}

    def error_log_size(self):
        try:
            return os.path.getsize(self.error_log)
        except FileNotFoundError:
            return 0

    def error_log_since(self, offset):
        """nginx's error-log lines since OFFSET, counted by kind (the upstream
        address and the numbers taken out, so that alike lines count together)."""
        kinds = {}
        try:
            with open(self.error_log, errors="replace") as handle:
                handle.seek(offset)
                for line in handle:
                    match = re.search(r"\[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*?)(?:, client:|$)", line)
                    if not match:
                        continue
                    text = re.sub(r"unix:\S+", "unix:SOCKET", match.group(2))
                    text = re.sub(r"\d+", "N", text)
                    kind = f"[{match.group(1)}] {text}"[:160]
                    kinds[kind] = kinds.get(kind, 0) + 1
        except FileNotFoundError:
            pass
        return kinds

    def cache_counts(self):
        """The read cache's hits and misses so far, summed over the workers, from
        each worker's metrics socket (a FastCGI GET through cgi-fcgi); None when
        a socket does not answer."""
        if not self.metrics_sockets:
            return None
        hits = misses = 0.0
        env = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/internal/metrics/worker",
               "SCRIPT_NAME": "/internal/metrics/worker", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        try:
            for path in self.metrics_sockets:
                answer = subprocess.run(["cgi-fcgi", "-bind", "-connect", path], env=env, capture_output=True,
                                        text=True, timeout=20)
                if answer.returncode != 0 or not answer.stdout.startswith("Status: 200"):
                    return None
                for line in answer.stdout.splitlines():
                    name = re.split(r"[{ ]", line, 1)[0]
                    if name == "music_read_cache_hits_total":
                        hits += float(line.rsplit(" ", 1)[1])
                    elif name == "music_read_cache_misses_total":
                        misses += float(line.rsplit(" ", 1)[1])
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return None
        return hits, misses


def measured(command, env, measure):
    """Runs a load generator; with MEASURE (Side.processes), also the CPU each side
    spent: the workers, nginx and the generator itself (seconds)."""
    before = {side: cpu_seconds(pids) for side, pids in (measure or {}).items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})
    if completed.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({completed.returncode}): {completed.stderr[-400:]} {completed.stdout[-400:]}")
    spent = None
    if measure:
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        spent = {side: cpu_seconds(pids) - before[side] for side, pids in measure.items()}
        spent["client"] = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    return completed.stdout, spent


def per_request(result, spent):
    if spent:
        result["cpu_us"] = {side: seconds * 1e6 / max(result["requests"], 1) for side, seconds in spent.items()}
    return result


def wrk(url, duration, connections, env, measure=None, timeout=None):
    """One wrk run; with `measure` (Side.processes), also the CPU each side spent
    per request: the workers, nginx and wrk itself (microseconds)."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", os.path.join(KIT, "scenario.lua")]
    if timeout:
        command += ["--timeout", f"{timeout}s"]
    output, spent = measured(command + [url], env, measure)
    result = json.loads(output.strip().splitlines()[-1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return per_request(result, spent)


def h2load(url, duration, clients, streams, key=None, body=None, measure=None):
    """HTTP/2 over HTTPS with h2load (a POST of BODY when given) for about DURATION
    seconds, in the shape of wrk's results: p50/p99 from h2load's per-request log.

    nginx ends an HTTP/2 connection after H2_REQUESTS_PER_CONNECTION requests
    (GOAWAY) and h2load does not reconnect: so h2load runs in segments of that
    many requests per connection, each on new connections (as a client that
    reconnects would), until DURATION seconds of them have run."""
    statuses, latencies, done, errored, timed_out, elapsed = {}, [], 0, 0, 0, 0.0
    spent_total = None
    with tempfile.TemporaryDirectory() as folder:
        request_log = os.path.join(folder, "requests.log")
        command = ["h2load", "-t1", f"-c{clients}", f"-m{streams}", "-n", str(clients * H2_REQUESTS_PER_CONNECTION),
                   "--log-file", request_log]
        if key:
            command += ["-H", f"x-api-key: {key}"]
        if body is not None:
            body_file = os.path.join(folder, "body.json")
            with open(body_file, "w") as handle:
                handle.write(body)
            command += ["-d", body_file, "-H", "content-type: application/json"]
        while elapsed < duration:
            output, spent = measured(command + [url], {}, measure)
            if spent:
                spent_total = spent if spent_total is None else {side: spent_total[side] + spent[side] for side in spent}
            with open(request_log) as handle:
                for line in handle:
                    fields = line.split()
                    if len(fields) >= 3:
                        statuses[fields[1]] = statuses.get(fields[1], 0) + 1
                        latencies.append(int(fields[2]))
            os.remove(request_log)  # h2load appends to it
            counts = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                               r"(\d+) errored, (\d+) timeout", output)
            finished = re.search(r"finished in ([\d.]+)(ms|s|us),", output)
            if not counts or not finished:
                raise RuntimeError(f"h2load: no results: {output[-400:]}")
            done += int(counts.group(3))
            errored += int(counts.group(6))
            timed_out += int(counts.group(7))
            elapsed += float(finished.group(1)) / {"s": 1, "ms": 1e3, "us": 1e6}[finished.group(2)]
    if not latencies:
        raise RuntimeError("h2load: no requests logged")
    latencies.sort()
    percentile = lambda p: latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))]
    result = {"requests": done, "duration_us": int(elapsed * 1e6), "rps": done / elapsed,
              "p50_us": percentile(50), "p99_us": percentile(99), "statuses": statuses,
              "socket_errors": {"errored": errored, "timeout": timed_out}}
    return per_request(result, spent_total)


class Prober(threading.Thread):
    """GET /health every PROBE_PERIOD_S on a connection of its own, from
    PROBE_SOURCE, while an overload run lasts: the latency a monitor would see."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop, self.latencies_ms, self.failures = port, threading.Event(), [], 0

    def run(self):
        connection = None
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=OVERLOAD_TIMEOUT_S,
                                                            source_address=(PROBE_SOURCE, 0))
                connection.request("GET", "/v1/music/health")
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    self.failures += 1
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
            except (OSError, http.client.HTTPException):
                self.failures += 1
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
                if connection is not None:
                    connection.close()
                connection = None
            self.stop.wait(max(0.0, PROBE_PERIOD_S - (time.perf_counter() - started)))
        if connection is not None:
            connection.close()

    def summary(self):
        ordered = sorted(self.latencies_ms) or [0.0]
        return {"probes": len(self.latencies_ms), "failures": self.failures, "max_ms": ordered[-1],
                "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]}


def unexpected_count(result):
    return (sum(n for status, n in result["statuses"].items() if not str(status).startswith("2"))
            + sum(result["socket_errors"].values()))


def median_cpu(results):
    return {side: statistics.median(r["cpu_us"][side] for r in results) for side in results[0]["cpu_us"]}


def overload_seconds(duration):
    """Seconds per overload run: long enough for a multi-second tail to show."""
    return 2 * duration


WRITE_SCENARIOS = ["add track (new member)", "create collection", "update collection"]


# Writes of the default deployment against one worker: pairs of runs this long,
# this many pairs per round (see compare_writes).
WRITE_PAIR_SECONDS = 1
WRITE_PAIRS_PER_ROUND = 20


def write_pairs(rounds):
    """Pairs of write runs (the default deployment, one worker) per write scenario."""
    return WRITE_PAIRS_PER_ROUND * rounds


def estimate_seconds(duration, rounds, overload_connections, memory_requests, only=None):
    """About how long bench.py runs (the stacks up and built already)."""
    overload = rounds * 2 * len(overload_connections) * 2 * (overload_seconds(duration) + 2)
    runs_seconds = write_pairs(rounds) * len(WRITE_SCENARIOS) * 2 * (WRITE_PAIR_SECONDS + 0.1)  # writes, 2 workers and 1
    if only == "overload":
        return 90 + overload
    if only == "writes":
        return 90 + runs_seconds
    standard, miss = 8, 2
    runs = rounds * (standard * 3 + miss * 2)  # HTTP: floor, default and one-worker
    runs += rounds * (standard + miss) * 2  # HTTPS: floor and default
    runs += rounds * len(H2_CONFIGS) * 4 * 2  # HTTP/2: floor and default
    runs += rounds * len(METRICS_SCENARIOS) * 2  # metrics on and off
    seconds = runs * (duration + 0.5) + runs_seconds
    seconds += overload
    # Seeding, growth, reorder; the memory runs at some 10,000 requests a second.
    return seconds + 90 + 25 + 2 * memory_requests / 10_000


def main():
    if sys.argv[1:2] == ["--estimate"]:
        parser = argparse.ArgumentParser()
        parser.add_argument("--estimate", action="store_true")
        parser.add_argument("--duration", type=int, default=5)
        parser.add_argument("--rounds", type=int, default=3)
        parser.add_argument("--overload-connections", default="256,1024,2048")
        parser.add_argument("--memory-requests", type=int, default=100_000)
        parser.add_argument("--only", choices=["overload", "writes"])
        args = parser.parse_args()
        seconds = estimate_seconds(args.duration, args.rounds, args.overload_connections.split(","), args.memory_requests,
                                   args.only)
        print(f"{seconds / 60:.0f}")
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--workers", type=int, required=True, help="the default deployment's worker processes")
    parser.add_argument("--threads", type=int, required=True, help="threads per worker")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--https-port", type=int, required=True)
    parser.add_argument("--worker-pid-files", required=True, help="comma-separated, the default deployment's")
    parser.add_argument("--nginx-pid-file", required=True)
    parser.add_argument("--error-log", required=True)
    parser.add_argument("--metrics-sockets", help="comma-separated, the default deployment's workers' metrics sockets")
    parser.add_argument("--one-http-port", type=int, required=True)
    parser.add_argument("--one-https-port", type=int, required=True)
    parser.add_argument("--one-worker-pid-file", required=True)
    parser.add_argument("--one-nginx-pid-file", required=True)
    parser.add_argument("--one-error-log", required=True)
    parser.add_argument("--floor-http-port", type=int, required=True)
    parser.add_argument("--floor-https-port", type=int, required=True)
    parser.add_argument("--floor-worker-pid-file", required=True)
    parser.add_argument("--floor-nginx-pid-file", required=True)
    parser.add_argument("--floor-error-log", required=True)
    parser.add_argument("--off-http-port", type=int, required=True, help="the default deployment with metrics off")
    parser.add_argument("--off-worker-pid-files", required=True)
    parser.add_argument("--off-nginx-pid-file", required=True)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--overload-connections", default="256,1024,2048")
    parser.add_argument("--only", choices=["overload", "writes"], help="run only these rows (and their floor runs)")
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--command", default="deploy/bench", help="the command line, for the heading")
    parser.add_argument("--out", required=True)
    parser.add_argument("--machine", default="")
    parser.add_argument("--psql-url", help="PostgreSQL run: where to read the seeded track ids")
    parser.add_argument("--store", default="SQLite synchronous=FULL", help="the store, for the table's heading")
    args = parser.parse_args()
    overload_connections = [int(n) for n in args.overload_connections.split(",")]
    # wrk holds a descriptor per connection: lift the soft limit to the hard one.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < max(overload_connections) + 64:
        raise SystemExit(f"ulimit -n: {hard} descriptors, too few for {max(overload_connections)} connections")
    log(f"about {estimate_seconds(args.duration, args.rounds, overload_connections, args.memory_requests, args.only) / 60:.0f} "
        "minutes from here")
    os.makedirs(args.out, exist_ok=True)
    stack = Stack(args)
    capacity = cache_capacity()
    held = capacity * args.threads * args.workers
    data = seed(stack, args.out, 2 * held, add_targets(args.rounds, args.duration, overload_connections, args.only))
    with open(os.path.join(args.out, "seed.json"), "w") as handle:
        json.dump({key: value for key, value in data.items() if key not in ("tracks", "list_miss_paths", "get_miss_paths")},
                  handle, indent=2)
    key, base, c = data["key"], data["base"], data["collections"]

    def write_lines(name, lines):
        path = os.path.join(args.out, name)
        with open(path, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        return path

    tracks_file = write_lines("track-ids.txt", data["tracks"])
    targets_file = write_lines("add-targets.txt", data["add_targets"])
    list_miss_file = write_lines("list-miss-paths.txt", data["list_miss_paths"])
    get_miss_file = write_lines("get-miss-paths.txt", data["get_miss_paths"])

    default = Side(f"{args.workers} workers", args.http_port, args.https_port, args.worker_pid_files.split(","),
                   args.nginx_pid_file, args.error_log, args.metrics_sockets.split(",") if args.metrics_sockets else None)
    one = Side("1 worker", args.one_http_port, args.one_https_port, [args.one_worker_pid_file],
               args.one_nginx_pid_file, args.one_error_log)
    floor_side = Side("C floor", args.floor_http_port, args.floor_https_port, [args.floor_worker_pid_file],
                      args.floor_nginx_pid_file, args.floor_error_log)
    add_env = {"BENCH_MODE": "add", "BENCH_KEY": key, "BENCH_TRACKS": tracks_file, "BENCH_TARGETS": targets_file}
    scenarios = [
        ("health", {"BENCH_PATH": "/v1/music/health"}),
        ("get collection", {"BENCH_PATH": f"{base}/{c['small']}", "BENCH_KEY": key}),
        ("list tracks (10-track, limit 50)", {"BENCH_PATH": f"{base}/{c['small']}/tracks?limit=50", "BENCH_KEY": key}),
        ("list tracks (10,000-track, offset 9950)", {"BENCH_PATH": f"{base}/{c['large']}/tracks?limit=50&offset=9950", "BENCH_KEY": key}),
        ("add track (new member)", add_env),
        ("create collection", {"BENCH_MODE": "create", "BENCH_PATH": base, "BENCH_KEY": key}),
        ("update collection", {"BENCH_MODE": "update", "BENCH_PATH": f"{base}/{c['medium']}", "BENCH_KEY": key}),
        # The C floor given the add-track requests (a POST with a body, built by the
        # script): what nginx and wrk alone make of a write, with no work behind it.
        (FLOOR_ADD, {**add_env, "BENCH_ANY_BODY": "1"}),
        # Reads that miss the per-thread read cache: the targets rotate over more
        # than all threads' caches hold (see the note under the table).
        (LIST_MISS, {"BENCH_MODE": "paths", "BENCH_PATHS": list_miss_file, "BENCH_KEY": key}),
        (GET_MISS, {"BENCH_MODE": "paths", "BENCH_PATHS": get_miss_file, "BENCH_KEY": key}),
    ]
    miss_sizes = {LIST_MISS: len(data["list_miss_paths"]), GET_MISS: len(data["get_miss_paths"])}
    one_worker_scenarios = [name for name, _ in scenarios if name not in miss_sizes]
    failures = []
    state = {"next_target": 0, "targets_out": False, "path_offsets": {name: 0 for name in miss_sizes}}
    cache = {name: [] for name in miss_sizes}

    def run(side, proto, name, env, connections=32, timeout=None, seconds=None):
        """One wrk run of scenario NAME on SIDE; adds take fresh targets, the
        cache-miss rows go on where their last run stopped."""
        on_floor = side is floor_side
        if env.get("BENCH_MODE") == "add" and not on_floor:
            env = {**env, "BENCH_TARGET_OFFSET": str(state["next_target"])}
        if name in miss_sizes:
            env = {**env, "BENCH_PATH_OFFSET": str(state["path_offsets"][name])}
        counts_before = side.cache_counts() if name in miss_sizes else None
        result = wrk(side.url(proto) + env.get("BENCH_PATH", "/"), seconds or args.duration, connections, env,
                     side.processes(), timeout)
        if env.get("BENCH_MODE") == "add" and not on_floor:
            # The requests still in flight when wrk stops (one per connection) are
            # sent and applied too: the next run starts beyond them, or its first
            # adds find their tracks there already ("not-new").
            state["next_target"] += targets_taken(result["requests"], connections)
            if state["next_target"] > len(data["add_targets"]) and not state["targets_out"]:
                state["targets_out"] = True
                failures.append(f"add ran out of fresh target collections ({len(data['add_targets'])}): its answers "
                                "from here on are not new members")
        if name in miss_sizes:
            state["path_offsets"][name] += result["requests"]
            counts_after = side.cache_counts()
            if counts_before and counts_after:
                cache[name].append((counts_after[0] - counts_before[0], counts_after[1] - counts_before[1]))
        return result

    if args.only:
        # Only the overload rows, or only the write comparison: their table, the
        # add targets used and their targets, into results-<kind>.md and .json.
        if args.only == "overload":
            measured = overload_rows(args, default, floor_side, key, base, c, add_env, run, overload_connections, failures)
            body, targets, heading = overload_lines(args, measured), overload_targets(measured), "Overload rows only"
        else:
            measured = compare_writes(args, scenarios, default, one, run, failures)
            body, targets, heading = write_lines_of(args, measured), write_targets(args, measured), "Writes only"
        lines = [f"{heading}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {args.machine}; "
                 f"command: {args.command}; store: {args.store}; default deployment: {args.workers} worker processes "
                 f"of {args.threads} threads."]
        lines += body + ["", targets_used(state, data), "", "| target | measured | met |", "|---|---:|---|"]
        lines += [f"| {name} | {value} | {'yes' if met else 'NO'} |" for name, value, met in targets]
        if failures:
            lines += ["", "FAILED: unexpected answers:"] + [f"- {failure}" for failure in failures]
        text = "\n".join(lines) + "\n"
        print(text)
        with open(os.path.join(args.out, f"results-{args.only}.md"), "w") as handle:
            handle.write(text)
        with open(os.path.join(args.out, f"results-{args.only}.json"), "w") as handle:
            json.dump({args.only: measured, "add_targets": targets_used(state, data), "failures": failures}, handle,
                      indent=2)
        return 1 if failures else 0

    # The main tables. Rounds of every scenario, each run right after a floor run
    # of its own: a scenario's ratio is the median of its rounds' ratios to the
    # floor run next to it, so a slow spell of the shared machine (they last
    # seconds to minutes) moves both sides of a ratio, not one. Over HTTP the
    # one-worker stack runs each scenario beside the same floor run, before the
    # default deployment in odd rounds and after it in even ones.
    floors = {proto: [] for proto in ["http", "https"]}
    runs = {(side, proto, name): [] for side in ["default", "one"] for proto in ["http", "https"] for name, _ in scenarios}
    ratios = {key_: [] for key_ in runs}
    for proto in ["http", "https"]:
        for round_number in range(1, args.rounds + 1):
            for name, env in scenarios:
                log(f"{name} and its floor ({proto}, round {round_number} of {args.rounds})")
                floor = wrk(floor_side.url(proto) + "/v1/music/health", args.duration, 32,
                            {"BENCH_PATH": "/v1/music/health"}, floor_side.processes())
                floors[proto].append(floor)
                if name == FLOOR_ADD:
                    sides = [("default", floor_side)]
                else:
                    sides = [("default", default)]
                    if proto == "http" and name in one_worker_scenarios:
                        sides.insert(0 if round_number % 2 else 1, ("one", one))
                for label, side in sides:
                    result = run(side, proto, name, env)
                    runs[(label, proto, name)].append(result)
                    ratios[(label, proto, name)].append(result["rps"] / floor["rps"])

    def row(scenario, proto, results, ratio_list):
        unexpected = 0
        for result in results:
            count = unexpected_count(result)
            if count:
                failures.append(f"{scenario} ({proto}): {count} unexpected answers {result['statuses']} {result['socket_errors']}")
            unexpected += count
        return {"scenario": scenario, "proto": proto, "rps": statistics.median(r["rps"] for r in results),
                "p50_ms": statistics.median(r["p50_us"] for r in results) / 1000,
                "p99_ms": statistics.median(r["p99_us"] for r in results) / 1000,
                "ratio": statistics.median(ratio_list), "unexpected": unexpected, "cpu_us": median_cpu(results),
                "rounds_rps": [r["rps"] for r in results], "rounds_ratio": ratio_list}

    def floor_row(results, proto, label="C floor"):
        return {"scenario": f"{label} (median of {len(results)})", "proto": proto,
                "rps": statistics.median(f["rps"] for f in results),
                "p50_ms": statistics.median(f["p50_us"] for f in results) / 1000,
                "p99_ms": statistics.median(f["p99_us"] for f in results) / 1000, "ratio": 1.0, "unexpected": 0,
                "cpu_us": median_cpu(results), "rounds_rps": [f["rps"] for f in results]}

    rows, one_rows = [], []
    for proto in ["http", "https"]:
        rows.append(floor_row(floors[proto], proto))
        rows += [row(name, proto, runs[("default", proto, name)], ratios[("default", proto, name)]) for name, _ in scenarios]
    one_rows.append(floor_row(floors["http"], "http"))
    one_rows += [row(name, "http", runs[("one", "http", name)], ratios[("one", "http", name)]) for name in one_worker_scenarios
                 if name != FLOOR_ADD]
    rounds_pairs = {name: [round(d["rps"] / o["rps"], 3) for d, o in zip(runs[("default", "http", name)],
                                                                       runs[("one", "http", name)])]
                    for name in WRITE_SCENARIOS}
    writes = compare_writes(args, scenarios, default, one, run, failures)
    for name, value in writes.items():
        value["rounds_pair_ratios"] = rounds_pairs[name]
    cache_notes = {}
    for name, size in miss_sizes.items():
        hits = sum(h for h, _ in cache[name])
        misses = sum(m for _, m in cache[name])
        cache_notes[name] = {"targets": size, "hits": hits, "misses": misses,
                             "hit_ratio": hits / (hits + misses) if cache[name] and hits + misses else None}

    off = Side("metrics off", args.off_http_port, None, args.off_worker_pid_files.split(","), args.off_nginx_pid_file, None)
    metrics = metrics_overhead(args, [(name, env) for name, env in scenarios if name in METRICS_SCENARIOS], default, off,
                               failures)
    overload = overload_rows(args, default, floor_side, key, base, c, add_env, run, overload_connections, failures)
    http2 = http2_rows(args, default, floor_side, key, base, c, failures)

    log("growth: deep vs shallow page; add to 9,000-10,000 vs 10-1,010 tracks, alternating in chunks of 200 (1 connection)")
    growth = {}
    for label, path, extra in [
        ("shallow page", f"{base}/{c['small']}/tracks?limit=50", {}),
        ("deep page", f"{base}/{c['large']}/tracks?limit=50&offset=9950", {}),
    ]:
        growth[label] = wrk(default.url("http") + path, 3, 1, {"BENCH_PATH": path, "BENCH_KEY": key, **extra})
    # The two add sides alternate in five chunks of 200 adds (each a commit of its
    # own, so each add waits for an fsync): both see the same spells of the shared
    # disk, where one run of 1,000 after the other compared two different moments.
    # A side's p50 is the median of its chunks' p50s.
    chunks, per_chunk = 5, 200
    samples = {}
    for chunk in range(chunks):
        for label, collection, offset in [("add to 10-track", c["add_small"], 10), ("add to 10,000-track", c["add_large"], 9_000)]:
            first = offset + chunk * per_chunk
            ids = write_lines(f"growth-{collection}.txt", data["tracks"][first:first + per_chunk])
            target = write_lines(f"growth-target-{collection}.txt", [f"{base}/{collection}/tracks"])
            # The run ends at the limit (200 adds take well under a second); 5 s
            # bounds a slow spell.
            samples.setdefault(label, []).append(wrk(default.url("http") + "/", 5, 1, {
                "BENCH_MODE": "add", "BENCH_KEY": key, "BENCH_TRACKS": ids, "BENCH_TARGETS": target,
                "BENCH_LIMIT": str(per_chunk)}))
            os.remove(ids)
            os.remove(target)
    for label, results in samples.items():
        statuses = {}
        for result in results:
            for status, count in result["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
        growth[label] = {"p50_us": statistics.median(r["p50_us"] for r in results),
                         "p99_us": statistics.median(r["p99_us"] for r in results),
                         "chunks_p50_us": [r["p50_us"] for r in results], "statuses": statuses}
    for label, result in growth.items():
        unexpected = sum(count for status, count in result["statuses"].items() if not status.startswith("2"))
        if unexpected:
            failures.append(f"growth {label}: unexpected {result['statuses']}")

    log("reorder: full 10,000-track reorder, end to end, 5 times")
    conn = stack.connection()
    _, headers, _ = stack.call(conn, "GET", f"{base}/{c['large']}", key)
    ids = []
    for offset in range(0, 10_000, 500):
        _, _, page = stack.call(conn, "GET", f"{base}/{c['large']}/tracks?limit=500&offset={offset}", key)
        ids += [item["track_id"] for item in page["items"]]
    reorder_ms = []
    for attempt in range(5):
        ids.reverse()
        started = time.perf_counter()
        stack.call(conn, "PATCH", f"{base}/{c['large']}/order", key, {"ordered_track_ids": ids})
        reorder_ms.append((time.perf_counter() - started) * 1000)
    _, _, check = stack.call(conn, "GET", f"{base}/{c['large']}/tracks?limit=3", key)
    if [item["track_id"] for item in check["items"]] != ids[:3]:
        failures.append("reorder: the order read back is not the order sent")

    requests = args.memory_requests
    log(f"memory: each worker's RSS before, after {requests:,} and after {2 * requests:,} requests "
        f"(spread over the {args.workers} workers)")
    pids = default.workers()
    memory = {"before_kib": {str(pid): rss_kib(pid) for pid in pids}, "requests": []}
    get_env = {"BENCH_PATH": f"{base}/{c['small']}", "BENCH_KEY": key, "BENCH_LIMIT": str(requests)}
    for label in ["first", "second"]:
        result = wrk(default.url("http") + get_env["BENCH_PATH"], 120, 32, get_env)
        if result["requests"] < requests:
            failures.append(f"memory run ended after {result['requests']} requests")
        memory[f"after_{label}_kib"] = {str(pid): rss_kib(pid) for pid in pids}
        memory["requests"].append(result["requests"])
    memory["largest_kib"] = max(memory["after_second_kib"].values())
    memory["growth_percent"] = max((memory["after_second_kib"][p] - memory["after_first_kib"][p]) * 100
                                   / memory["after_first_kib"][p] for p in memory["after_first_kib"])

    report(args, rows, one_rows, writes, cache_notes, capacity, metrics, overload, http2, growth, reorder_ms, memory,
           failures, targets_used(state, data))
    return 1 if failures else 0


def compare_writes(args, scenarios, default, one, run, failures):
    """The write scenarios on the default deployment against one worker (HTTP), in
    pairs of short runs back to back: each pair one run of each side, alternating
    which goes first, the write scenarios taking turns. Both send every write to
    one worker process (the other worker takes none of them), so what separates
    them is the shared machine's noise; two runs of 5 s differed by up to 0.5x and
    nine such pairs could not tell 1.0x from the 0.95x target. Runs of 1 s give
    about twice the precision for the same time (docs/performance.md, "Writes: many
    short pairs"). A scenario's ratio: the geometric mean of its pairs' ratios (a
    ratio and its inverse weigh the same), with its 95% interval."""
    count = write_pairs(args.rounds)
    pairs = {name: [] for name in WRITE_SCENARIOS}
    for pair_number in range(1, count + 1):
        if pair_number == 1 or pair_number % 10 == 0:
            log(f"writes, {args.workers} workers and 1: pair {pair_number} of {count} ({WRITE_PAIR_SECONDS} s runs, "
                f"{', '.join(WRITE_SCENARIOS)})")
        for name, env in scenarios:
            if name not in WRITE_SCENARIOS:
                continue
            sides = [("default", default), ("one", one)]
            if pair_number % 2 == 0:
                sides.reverse()
            results = {}
            for label, side in sides:
                results[label] = run(side, "http", name, env, seconds=WRITE_PAIR_SECONDS)
                unexpected = unexpected_count(results[label])
                if unexpected:
                    failures.append(f"{name} ({label}, write pair {pair_number}): {unexpected} unexpected answers "
                                    f"{results[label]['statuses']} {results[label]['socket_errors']}")
            if results["default"]["requests"] and results["one"]["requests"]:
                pairs[name].append((results["default"], results["one"]))
            else:
                failures.append(f"{name} (write pair {pair_number}): a run answered no request "
                                f"({results['default']['requests']} and {results['one']['requests']})")
    writes = {}
    for name, pair_list in pairs.items():
        if len(pair_list) < 2:
            failures.append(f"{name}: {len(pair_list)} write pairs with answers, too few for a ratio")
            writes[name] = {"ratio": 0.0, "pairs": len(pair_list), "interval": [0.0, 0.0], "median_ratio": 0.0,
                            "default_rps": 0.0, "one_rps": 0.0, "pair_ratios": []}
            continue
        logs = [math.log(d["rps"] / o["rps"]) for d, o in pair_list]
        mean = statistics.mean(logs)
        spread = 2 * statistics.stdev(logs) / math.sqrt(len(logs))
        writes[name] = {"ratio": math.exp(mean), "pairs": len(logs),
                        "interval": [math.exp(mean - spread), math.exp(mean + spread)],
                        "median_ratio": statistics.median(math.exp(x) for x in logs),
                        "default_rps": statistics.median(d["rps"] for d, _ in pair_list),
                        "one_rps": statistics.median(o["rps"] for _, o in pair_list),
                        "pair_ratios": [round(d["rps"] / o["rps"], 3) for d, o in pair_list]}
    return writes


def write_lines_of(args, writes):
    """The write comparison's table."""
    lines = ["", f"Writes, {args.workers} workers against 1 (HTTP, wrk -t1 -c32): {write_pairs(args.rounds)} pairs of "
             f"{WRITE_PAIR_SECONDS} s runs per scenario, back to back, alternating which goes first, the scenarios taking "
             "turns; req/s: the median of a side's runs; ratio: the geometric mean of the pairs' ratios, with its 95% "
             "interval (two standard errors) and the pairs' median; the rounds' pairs: the two runs beside the same floor "
             "run in the tables above (not in the ratio).", "",
             f"| write | {args.workers} workers req/s | 1 worker req/s | ratio | 95% interval | median of pairs "
             "| the rounds' pairs |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name, value in writes.items():
        low, high = value["interval"]
        rounds_pairs = ", ".join(f"{r:.2f}" for r in value.get("rounds_pair_ratios", [])) or "-"
        lines.append(f"| {name} | {value['default_rps']:,.0f} | {value['one_rps']:,.0f} | {value['ratio']:.3f} "
                     f"| {low:.3f}-{high:.3f} | {value['median_ratio']:.3f} | {rounds_pairs} |")
    return lines


def metrics_overhead(args, scenarios, on, off, failures):
    """Each scenario against the default deployment (metrics on) and its copy with
    metrics off (same database, same nginx configuration), HTTP, in rounds whose
    order alternates (on then off, off then on), so that a slow spell of the shared
    machine weighs on both sides. The ratio is on/off of the sides' median req/s."""
    sides = {"on": on, "off": off}
    results = []
    for name, env in scenarios:
        runs = {"on": [], "off": []}
        for round_number in range(1, args.rounds + 1):
            for side in (["on", "off"] if round_number % 2 else ["off", "on"]):
                log(f"{name}, metrics {side} (http, round {round_number} of {args.rounds})")
                runs[side].append(wrk(sides[side].url("http") + env["BENCH_PATH"], args.duration, 32, env,
                                      sides[side].processes()))
        for side, side_runs in runs.items():
            for run in side_runs:
                count = unexpected_count(run)
                if count:
                    failures.append(f"{name} (metrics {side}): {count} unexpected answers {run['statuses']} {run['socket_errors']}")
        row = {"scenario": name, "proto": "http"}
        for side, side_runs in runs.items():
            row[f"{side}_rps"] = statistics.median(r["rps"] for r in side_runs)
            row[f"{side}_p99_ms"] = statistics.median(r["p99_us"] for r in side_runs) / 1000
            row[f"{side}_worker_cpu_us"] = statistics.median(r["cpu_us"]["worker"] for r in side_runs)
            row[f"rounds_{side}_rps"] = [r["rps"] for r in side_runs]
        row["ratio"] = row["on_rps"] / row["off_rps"]
        results.append(row)
    return results


def overload_rows(args, default, floor_side, key, base, c, add_env, run, connection_counts, failures):
    """List tracks and add track at each connection count, in rounds: each round a
    run of the default deployment and one of the floor at the same count (the
    floor given the same requests for adds), back to back, the floor first in odd
    rounds; a /health prober runs on its own connection during each. A row: the
    medians of its rounds (req/s, p50, p99, CPU; x floor: the median of the
    rounds' ratios), the sums of its errors and the prober's worst. One run of
    each left the comparison to one spell of the shared machine: the floor's p99
    at 256 connections was 27.6 ms in one run and 50.3 ms in the next
    (docs/performance.md, "Overload rows in rounds")."""
    seconds = overload_seconds(args.duration)
    list_env = {"BENCH_PATH": f"{base}/{c['small']}/tracks?limit=50", "BENCH_KEY": key}
    rows = []
    for name, env, floor_env in [("list tracks (10-track, limit 50)", list_env, {"BENCH_PATH": "/v1/music/health"}),
                                 ("add track (new member)", add_env, {**add_env, "BENCH_ANY_BODY": "1"})]:
        for connections in connection_counts:
            runs = {"floor": [], "default": []}
            for round_number in range(1, args.rounds + 1):
                order = [("floor", floor_side, floor_env), ("default", default, env)]
                if round_number % 2 == 0:
                    order.reverse()
                for label, side, side_env in order:
                    log(f"overload: {name} at {connections:,} connections, {side.label} (round {round_number} of "
                        f"{args.rounds}, {seconds} s, wrk --timeout {OVERLOAD_TIMEOUT_S}s, /health probed every "
                        f"{PROBE_PERIOD_S * 1000:.0f} ms)")
                    error_log_offset = side.error_log_size()
                    prober = Prober(side.http_port)
                    prober.start()
                    try:
                        result = run(side, "http", name, side_env, connections, OVERLOAD_TIMEOUT_S, seconds)
                    finally:
                        prober.stop.set()
                        prober.join()
                    result["probe"] = prober.summary()
                    result["error_log"] = side.error_log_since(error_log_offset)
                    runs[label].append(result)
            for label, side, side_env in [("floor", floor_side, floor_env), ("default", default, env)]:
                results = runs[label]
                errors = {kind: sum(r["socket_errors"][kind] for r in results) for kind in ["connect", "read", "write",
                                                                                           "timeout"]}
                statuses, error_log = {}, {}
                for result in results:
                    for status, count in result["statuses"].items():
                        statuses[status] = statuses.get(status, 0) + count
                    for kind, count in result["error_log"].items():
                        error_log[kind] = error_log.get(kind, 0) + count
                non_2xx = sum(n for status, n in statuses.items() if not str(status).startswith("2"))
                probes = [r["probe"] for r in results]
                entry = {"scenario": (FLOOR_ADD if "BENCH_ANY_BODY" in side_env else "C floor") if label == "floor" else name,
                         "kind": name, "side": side.label, "connections": connections,
                         "rps": statistics.median(r["rps"] for r in results),
                         "p50_ms": statistics.median(r["p50_us"] for r in results) / 1000,
                         "p99_ms": statistics.median(r["p99_us"] for r in results) / 1000,
                         "rounds_p99_ms": [r["p99_us"] / 1000 for r in results],
                         "ratio": statistics.median(d["rps"] / f["rps"] for d, f in zip(results, runs["floor"])),
                         "statuses": statuses, "non_2xx": non_2xx, "timeouts": errors["timeout"],
                         "socket_errors": errors["connect"] + errors["read"] + errors["write"],
                         "probe": {"probes": sum(p["probes"] for p in probes), "failures": sum(p["failures"] for p in probes),
                                   "max_ms": max(p["max_ms"] for p in probes),
                                   "p99_ms": statistics.median(p["p99_ms"] for p in probes)},
                         "error_log": error_log, "cpu_us": median_cpu(results)}
                if label == "default" and (non_2xx or errors["timeout"] or entry["socket_errors"]):
                    failures.append(f"overload {name} at {connections}: {statuses} {errors}")
                rows.append(entry)
    return rows


def http2_rows(args, default, floor_side, key, base, c, failures):
    """The read scenarios and create over HTTPS with HTTP/2 (h2load), each run
    right after an HTTP/2 floor run of its own, for each of H2_CONFIGS."""
    scenarios = [("health", "/v1/music/health", None, None),
                 ("get collection", f"{base}/{c['small']}", key, None),
                 ("list tracks (10-track, limit 50)", f"{base}/{c['small']}/tracks?limit=50", key, None),
                 ("create collection", base, key, '{"name":"bench h2"}')]
    rows = []
    for clients, streams in H2_CONFIGS:
        config = f"-c{clients} -m{streams}"
        floors, runs, ratios = [], {name: [] for name, *_ in scenarios}, {name: [] for name, *_ in scenarios}
        for round_number in range(1, args.rounds + 1):
            for name, path, scenario_key, body in scenarios:
                log(f"HTTP/2 {config}: {name} and its floor (round {round_number} of {args.rounds})")
                floor = h2load(floor_side.url("https") + "/v1/music/health", args.duration, clients, streams,
                               measure=floor_side.processes())
                floors.append(floor)
                result = h2load(default.url("https") + path, args.duration, clients, streams, scenario_key, body,
                                default.processes())
                runs[name].append(result)
                ratios[name].append(result["rps"] / floor["rps"])
        rows.append({"scenario": f"C floor (median of {len(floors)})", "config": config,
                     "rps": statistics.median(f["rps"] for f in floors),
                     "p50_ms": statistics.median(f["p50_us"] for f in floors) / 1000,
                     "p99_ms": statistics.median(f["p99_us"] for f in floors) / 1000, "ratio": 1.0,
                     "unexpected": sum(unexpected_count(f) for f in floors), "cpu_us": median_cpu(floors)})
        for name, results in runs.items():
            unexpected = sum(unexpected_count(r) for r in results)
            if unexpected:
                failures.append(f"HTTP/2 {config} {name}: {[(r['statuses'], r['socket_errors']) for r in results]}")
            rows.append({"scenario": name, "config": config, "rps": statistics.median(r["rps"] for r in results),
                         "p50_ms": statistics.median(r["p50_us"] for r in results) / 1000,
                         "p99_ms": statistics.median(r["p99_us"] for r in results) / 1000,
                         "ratio": statistics.median(ratios[name]), "unexpected": unexpected,
                         "cpu_us": median_cpu(results), "rounds_ratio": ratios[name]})
    return rows


def main_table(rows):
    lines = ["| scenario | proto | req/s | p50 ms | p99 ms | x floor | unexpected | CPU us/req: workers | nginx | wrk |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        cpu = row["cpu_us"]
        lines.append(f"| {row['scenario']} | {row['proto']} | {row['rps']:,.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} "
                     f"| {row['ratio']:.2f} | {row['unexpected']} | {cpu['worker']:.0f} | {cpu['nginx']:.0f} | {cpu['client']:.0f} |")
    return lines


def write_targets(args, writes):
    """The write targets: (name, measured, met) each."""
    return [(f"{name.split(' (')[0]}: {args.workers} workers >= 0.95x 1 worker (HTTP, geometric mean of pairs)",
             f"{value['ratio']:.3f}x (95%: {value['interval'][0]:.3f}-{value['interval'][1]:.3f})",
             value["ratio"] >= 0.95) for name, value in writes.items()]


def overload_targets(overload):
    """The overload targets: (name, measured, met) each."""
    served = [entry for entry in overload if entry["side"] != "C floor"]
    floor_p99 = {(entry["connections"], entry["kind"]): entry["p99_ms"] for entry in overload if entry["side"] == "C floor"}
    overload_clean = all(e["non_2xx"] == 0 and e["timeouts"] == 0 and e["socket_errors"] == 0 for e in served)
    probe_max = max((e["probe"]["max_ms"] for e in served), default=0)
    probe_failed = sum(e["probe"]["failures"] for e in served)
    p99_beaten = [e for e in served if e["p99_ms"] < floor_p99[(e["connections"], e["kind"])]]
    return [
        ("overload: no errors or timeouts", "none" if overload_clean else
         f"{sum(e['non_2xx'] for e in served):,} non-2xx, {sum(e['timeouts'] for e in served):,} timeouts, "
         f"{sum(e['socket_errors'] for e in served):,} socket errors", overload_clean),
        ("overload: /health within 1 s (prober, max)", f"{probe_max:,.0f} ms" + (f", {probe_failed} failed" if probe_failed else ""),
         probe_max <= 1000 and probe_failed == 0),
        ("overload: p99 below the floor's at the same count (medians of rounds)", f"{len(p99_beaten)} of {len(served)} rows",
         len(p99_beaten) == len(served)),
    ]


def overload_lines(args, overload):
    """The overload table (and nginx's error-log lines of its runs)."""
    lines = ["", f"Overload (default deployment, HTTP): wrk -t1 -cN -d{overload_seconds(args.duration)}s --timeout "
              f"{OVERLOAD_TIMEOUT_S}s, {args.rounds} rounds, each a run of the floor and one of the default deployment at "
              "the same count back to back, the floor first in odd rounds (the floor given the add-track requests for the "
              "add rows); a row: the medians of its rounds (x floor: the median of the rounds' ratios), its rounds' p99s, "
              "errors summed over its rounds, the prober's p99 the median and its max the worst of its rounds; "
              f"non-2xx: answers other than 2xx; timeouts: no answer within "
              f"{OVERLOAD_TIMEOUT_S} s; socket errors: wrk's connect, read and write errors. /health probe: one GET every "
              f"{PROBE_PERIOD_S * 1000:.0f} ms on a connection of its own from {PROBE_SOURCE}, through the same nginx.", "",
              "| scenario | connections | req/s | p50 ms | p99 ms | rounds' p99 ms | x floor | non-2xx | timeouts "
              "| socket errors | /health probe p99 ms | max ms | CPU us/req: workers | nginx | wrk |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for e in overload:
        probe = e["probe"]
        cpu = e["cpu_us"]
        failed = f" ({probe['failures']} failed)" if probe["failures"] else ""
        rounds_p99 = ", ".join(f"{p99:.0f}" for p99 in e["rounds_p99_ms"])
        lines.append(f"| {e['scenario']} | {e['connections']:,} | {e['rps']:,.0f} | {e['p50_ms']:.2f} | {e['p99_ms']:.2f} "
                     f"| {rounds_p99} | {e['ratio']:.2f} | {e['non_2xx']:,} | {e['timeouts']:,} | {e['socket_errors']:,} "
                     f"| {probe['p99_ms']:.1f} | {probe['max_ms']:.1f}{failed} "
                     f"| {cpu['worker']:.0f} | {cpu['nginx']:.0f} | {cpu['client']:.0f} |")
    logged = [(e, kind, count) for e in overload for kind, count in e["error_log"].items()]
    if logged:
        lines += ["", "nginx's error log during the overload runs (alike lines counted together):"]
        for e, kind, count in logged:
            lines.append(f"- {e['scenario']}, {e['connections']:,} connections: {count:,} x {kind}")
    return lines


def targets_used(state, data):
    return (f"Add track used {state['next_target']:,} of the {len(data['add_targets']):,} fresh target collections "
            "seeded for it (each run starts on collections no earlier run touched).")


def report(args, rows, one_rows, writes, cache_notes, capacity, metrics, overload, http2, growth, reorder_ms, memory,
           failures, add_usage):
    by = {(row["scenario"], row["proto"]): row for row in rows}
    ratio = lambda name, proto="http": by[(name, proto)]["ratio"]
    deep = growth["deep page"]["p50_us"] / growth["shallow page"]["p50_us"]
    add = growth["add to 10,000-track"]["p50_us"] / growth["add to 10-track"]["p50_us"]
    reorder = statistics.median(reorder_ms)
    targets = [
        ("health >= 0.9x floor (HTTP)", f"{ratio('health'):.2f}x", ratio("health") >= 0.9),
        ("health p99 <= 5 ms (HTTP)", f"{by[('health', 'http')]['p99_ms']:.2f} ms", by[("health", "http")]["p99_ms"] <= 5),
        ("list tracks >= 0.7x floor (HTTP)", f"{ratio('list tracks (10-track, limit 50)'):.2f}x",
         ratio("list tracks (10-track, limit 50)") >= 0.7),
        ("list tracks, every request a cache miss >= 0.5x floor (HTTP)", f"{ratio(LIST_MISS):.2f}x", ratio(LIST_MISS) >= 0.5),
        ("add track >= 0.5x floor (HTTP)", f"{ratio('add track (new member)'):.2f}x", ratio("add track (new member)") >= 0.5),
        ("create >= 0.5x floor (HTTP)", f"{ratio('create collection'):.2f}x", ratio("create collection") >= 0.5),
    ]
    targets += write_targets(args, writes)
    targets += [(f"{row['scenario']}: metrics on >= {METRICS_MIN_RATIO}x off (HTTP)", f"{row['ratio']:.3f}x",
                 row["ratio"] >= METRICS_MIN_RATIO) for row in metrics]
    targets += overload_targets(overload)
    targets += [
        ("deep page <= 1.5x shallow page (p50)", f"{deep:.2f}x", deep <= 1.5),
        ("add to 10,000-track <= 1.5x add to 10-track (p50)", f"{add:.2f}x", add <= 1.5),
        ("full 10,000-track reorder <= 150 ms (median of 5)", f"{reorder:.1f} ms", reorder <= 150),
        ("worker RSS <= 64 MiB (largest worker)", f"{memory['largest_kib'] / 1024:.1f} MiB", memory["largest_kib"] <= 64 * 1024),
        ("RSS growth first -> second memory run < 5% (largest)", f"{memory['growth_percent']:.2f}%", memory["growth_percent"] < 5),
    ]
    deployment = f"{args.workers} worker processes of {args.threads} threads (deploy/up's), writes to worker 1"
    lines = [f"Benchmark of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {args.machine}; command: {args.command}",
             f"wrk -t1 -c32 -d{args.duration}s through nginx, {args.rounds} rounds, each scenario run right after a floor run "
             "of its own (each row: the median of its runs; x floor: the median of the rounds' ratios to the adjacent "
             f"floor run); store: {args.store}. The C floor: one process of {args.threads} threads.",
             "CPU us/req: user + system CPU per answered request of all the worker processes (the C floor's for the floor "
             "rows), of nginx's worker processes and of wrk, from /proc and getrusage over each run. "
             f"{FLOOR_ADD}: the C floor sent the add-track scenario's requests (a POST with a JSON body each), "
             "what nginx and wrk alone make of a write.", "",
             f"Default deployment: {deployment}.", ""]
    lines += main_table(rows)
    lines += ["", "Cache-miss rows: the targets rotate through a shuffled list, each run going on where the last one "
              f"stopped; the read cache keeps {capacity} entries per thread and is emptied when full, so all threads "
              f"together hold at most {capacity} x {args.threads} x {args.workers} = {capacity * args.threads * args.workers:,}."]
    for name, note in cache_notes.items():
        measured_ratio = (f"measured hit ratio {note['hit_ratio'] * 100:.2f}% ({note['hits']:,.0f} hits, "
                          f"{note['misses']:,.0f} misses, from the workers' metrics)" if note["hit_ratio"] is not None
                          else "hit ratio not measured (the workers' metrics sockets did not answer): a thread meets a "
                               "target again only after the whole list went round, by then its cache was emptied several "
                               "times over")
        lines.append(f"- {name}: {note['targets']:,} distinct targets; {measured_ratio}.")
    lines += ["", f"One worker ({args.threads} threads: MUSIC_WORKERS=1, the same database; HTTP; each run beside the same "
              "floor run as the default deployment's, before it in odd rounds and after it in even ones).", ""]
    lines += main_table(one_rows)
    lines += write_lines_of(args, writes)
    lines += ["", add_usage]
    lines += ["", f"Metrics on (the default deployment above) and off (the same deployment with MUSIC_METRICS=off, on "
              f"the same database behind the same nginx configuration), HTTP, {args.rounds} rounds alternating which side "
              "runs first; on/off: the ratio of the sides' median req/s; worker CPU: all the worker processes'.", "",
              "| metrics on / off | req/s on | req/s off | on/off | p99 ms on | p99 ms off | worker CPU us/req on | off |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in metrics:
        lines.append(f"| {row['scenario']} | {row['on_rps']:,.0f} | {row['off_rps']:,.0f} | {row['ratio']:.3f} "
                     f"| {row['on_p99_ms']:.2f} | {row['off_p99_ms']:.2f} | {row['on_worker_cpu_us']:.0f} "
                     f"| {row['off_worker_cpu_us']:.0f} |")
    lines += overload_lines(args, overload)
    lines += ["", f"HTTP/2 (default deployment): h2load -t1 over HTTPS with HTTP/2, -D {args.duration} s, {args.rounds} "
              "rounds, each scenario right after an HTTP/2 floor run of its own (health); -c32 -m1: 32 connections of one "
              "stream each (as wrk's 32 connections); -c4 -m8: 4 connections of 8 streams each (32 in flight, "
              "multiplexed); create: a POST with the same JSON body each time.", "",
              "| scenario | h2load | req/s | p50 ms | p99 ms | x floor | unexpected | CPU us/req: workers | nginx | h2load |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in http2:
        cpu = row["cpu_us"]
        lines.append(f"| {row['scenario']} | {row['config']} | {row['rps']:,.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} "
                     f"| {row['ratio']:.2f} | {row['unexpected']} | {cpu['worker']:.0f} | {cpu['nginx']:.0f} | {cpu['client']:.0f} |")
    lines += ["", "| growth (1 connection) | p50 ms | p99 ms |", "|---|---:|---:|"]
    for label, result in growth.items():
        lines.append(f"| {label} | {result['p50_us'] / 1000:.2f} | {result['p99_us'] / 1000:.2f} |")
    rss = lambda kib: ", ".join(f"{value / 1024:.1f}" for value in kib.values())
    lines += ["", f"Full 10,000-track reorder, end to end: median {reorder:.1f} ms, max {max(reorder_ms):.1f} ms (5 runs).",
              f"Worker RSS (MiB, each worker): {rss(memory['before_kib'])} before, {rss(memory['after_first_kib'])} after "
              f"{memory['requests'][0]:,} requests, {rss(memory['after_second_kib'])} after {sum(memory['requests']):,} "
              f"(largest growth {memory['growth_percent']:+.2f}%).",
              "", "| target | measured | met |", "|---|---:|---|"]
    for name, value, met in targets:
        lines.append(f"| {name} | {value} | {'yes' if met else 'NO'} |")
    if failures:
        lines += ["", "FAILED: unexpected answers:"] + [f"- {failure}" for failure in failures]
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(args.out, "results.md"), "w") as handle:
        handle.write(text)
    with open(os.path.join(args.out, "results.json"), "w") as handle:
        json.dump({"rows": rows, "one_worker_rows": one_rows, "writes_vs_one_worker": writes, "cache_miss": cache_notes,
                   "metrics_overhead": metrics,
                   "overload": overload, "http2": http2, "growth": growth, "reorder_ms": reorder_ms, "memory": memory,
                   "targets": [{"target": n, "measured": v, "met": m} for n, v, m in targets], "add_targets": add_usage,
                   "failures": failures},
                  handle, indent=2)


if __name__ == "__main__":
    sys.exit(main())
