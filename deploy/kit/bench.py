#!/usr/bin/env python3
"""The benchmark driver, run by deploy/bench once the stack and the C floor are up.

Seeds realistic data, runs each wrk scenario through nginx over plain HTTP and
HTTPS, compares every scenario with the C floor measured in the same run, checks
growth (deep vs shallow page, adding to a large vs a small collection), the
metrics' cost (health and list tracks against a worker with metrics off, in
alternating rounds), worker memory and a full 10,000-track reorder, then prints the table and writes it to
var/bench/ (results.md, results.json). Any unexpected status fails the run.
"""
import argparse
import http.client
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from common import music_admin, rss_kib

KIT = os.path.dirname(os.path.abspath(__file__))


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


# Empty collections for the add scenario, 10,000 new members each: every add run
# starts on targets no earlier run touched (BENCH_TARGET_OFFSET), so each of its
# answers is a new member (scenario.lua counts any other as unexpected).
ADD_TARGETS = 120
FLOOR_ADD = "C floor, add-track requests"
# The scenarios run against the worker with metrics off too (MUSIC_METRICS=off).
METRICS_SCENARIOS = ["health", "list tracks (10-track, limit 50)"]
# The issue's bound on the metrics' cost: on/off throughput at least this.
METRICS_MIN_RATIO = 0.97


def seed(stack, out_dir):
    """1 organization, 100 users with keys, 10,000 tracks; collections of 10, 1,000
    and 10,000 tracks, plus the collections the write scenarios use."""
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
        for index in range(10_000):
            handle.write(json.dumps({"title": f"Bench track {index}", "duration": 120 + index % 240,
                                     "instrumental": index % 3 == 0}) + "\n")
    stack.admin("track", "import", "--org", org, "--owner", owner, tracks_file)
    conn = stack.connection()
    query = f"SELECT id FROM tracks WHERE organization_id = '{org}' ORDER BY created_at, id"
    reader = (["psql", "--no-psqlrc", "-At", "-d", stack.args.psql_url, "-c", query] if stack.args.psql_url
              else ["sqlite3", stack.db, query])
    track_ids = [row.strip() for row in subprocess.run(reader, capture_output=True, text=True, check=True).stdout.split()]
    assert len(track_ids) == 10_000, len(track_ids)
    base = f"/v1/music/{org}/collections"

    def collection(name, size):
        _, _, created = stack.call(conn, "POST", base, key, {"name": name})
        for track in track_ids[:size]:
            stack.call(conn, "POST", f"{base}/{created['id']}/tracks", key, {"track_id": track})
        return created["id"]

    log("seeding: collections of 10, 1,000 and 10,000 tracks (and 9,000 for growth)")
    started = time.time()
    sizes = {"small": collection("Ten", 10), "medium": collection("Thousand", 1_000),
             "large": collection("Ten thousand", 10_000), "add_large": collection("Nine thousand", 9_000),
             "add_small": collection("Ten for adds", 10)}
    log(f"seeded {sum([10, 1_000, 10_000, 9_000, 10]):,} members in {time.time() - started:.0f} s")
    add_targets = [collection(f"Adds {index}", 0) for index in range(ADD_TARGETS)]
    return {"org": org, "owner": owner, "key": key, "tracks": track_ids, "collections": sizes,
            "add_targets": [f"{base}/{c}/tracks" for c in add_targets], "base": base}


def cpu_seconds(pids):
    """User + system CPU of these processes so far (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def processes(worker_pid_file, nginx_pid_file):
    """The worker process and nginx's worker processes (the master's children)."""
    master = open(nginx_pid_file).read().strip()
    nginx = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if handle.read().rsplit(")", 1)[1].split()[1] == master:
                        nginx.append(int(entry))
            except (FileNotFoundError, IndexError):
                continue
    return {"worker": [int(open(worker_pid_file).read())], "nginx": nginx}


def wrk(url, duration, connections, env, measure=None):
    """One wrk run; with `measure` (from `processes`), also the CPU each side spent
    per request: the worker, nginx and wrk itself (microseconds)."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", os.path.join(KIT, "scenario.lua"), url]
    before = {side: cpu_seconds(pids) for side, pids in (measure or {}).items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, check=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    if measure:
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        spent = {side: cpu_seconds(pids) - before[side] for side, pids in measure.items()}
        spent["wrk"] = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        result["cpu_us"] = {side: seconds * 1e6 / max(result["requests"], 1) for side, seconds in spent.items()}
    return result


def median_cpu(results):
    return {side: statistics.median(r["cpu_us"][side] for r in results) for side in results[0]["cpu_us"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--https-port", type=int, required=True)
    parser.add_argument("--floor-http-port", type=int, required=True)
    parser.add_argument("--floor-https-port", type=int, required=True)
    parser.add_argument("--worker-pid-file", required=True)
    parser.add_argument("--nginx-pid-file", required=True)
    parser.add_argument("--floor-worker-pid-file", required=True)
    parser.add_argument("--floor-nginx-pid-file", required=True)
    parser.add_argument("--off-http-port", type=int, required=True, help="nginx in front of the worker with metrics off")
    parser.add_argument("--off-worker-pid-file", required=True)
    parser.add_argument("--off-nginx-pid-file", required=True)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", required=True)
    parser.add_argument("--machine", default="")
    parser.add_argument("--psql-url", help="PostgreSQL run: where to read the seeded track ids")
    parser.add_argument("--store", default="SQLite synchronous=FULL", help="the store, for the table's heading")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    stack = Stack(args)
    data = seed(stack, args.out)
    with open(os.path.join(args.out, "seed.json"), "w") as handle:
        json.dump({key: value for key, value in data.items() if key != "tracks"}, handle, indent=2)
    key, base, c = data["key"], data["base"], data["collections"]
    tracks_file = os.path.join(args.out, "track-ids.txt")
    with open(tracks_file, "w") as handle:
        handle.write("\n".join(data["tracks"]) + "\n")
    targets_file = os.path.join(args.out, "add-targets.txt")
    with open(targets_file, "w") as handle:
        handle.write("\n".join(data["add_targets"]) + "\n")

    def url(proto, floor=False):
        port = {("http", False): args.http_port, ("https", False): args.https_port,
                ("http", True): args.floor_http_port, ("https", True): args.floor_https_port}[(proto, floor)]
        return f"{proto}://127.0.0.1:{port}"

    scenarios = [
        ("health", {"BENCH_PATH": "/v1/music/health"}),
        ("get collection", {"BENCH_PATH": f"{base}/{c['small']}", "BENCH_KEY": key}),
        ("list tracks (10-track, limit 50)", {"BENCH_PATH": f"{base}/{c['small']}/tracks?limit=50", "BENCH_KEY": key}),
        ("list tracks (10,000-track, offset 9950)", {"BENCH_PATH": f"{base}/{c['large']}/tracks?limit=50&offset=9950", "BENCH_KEY": key}),
        ("add track (new member)", {"BENCH_MODE": "add", "BENCH_KEY": key, "BENCH_TRACKS": tracks_file, "BENCH_TARGETS": targets_file}),
        ("create collection", {"BENCH_MODE": "create", "BENCH_PATH": base, "BENCH_KEY": key}),
        ("update collection", {"BENCH_MODE": "update", "BENCH_PATH": f"{base}/{c['medium']}", "BENCH_KEY": key}),
        # The C floor given the add-track requests (a POST with a body, built by the
        # script): what nginx and wrk alone make of a write, with no work behind it.
        (FLOOR_ADD, {"BENCH_MODE": "add", "BENCH_KEY": key, "BENCH_TRACKS": tracks_file, "BENCH_TARGETS": targets_file,
                     "BENCH_ANY_BODY": "1"}),
    ]
    rows, failures = [], []
    next_target = 0
    stack_processes = processes(args.worker_pid_file, args.nginx_pid_file)
    floor_processes = processes(args.floor_worker_pid_file, args.floor_nginx_pid_file)
    for proto in ["http", "https"]:
        # Rounds of every scenario, each run right after a floor run of its own: a
        # scenario's ratio is the median of its rounds' ratios to the floor run next
        # to it, so a slow spell of the shared machine (they last seconds to minutes)
        # moves both sides of a ratio, not one. Rows are medians of the rounds.
        floors, runs, ratios = [], {name: [] for name, _ in scenarios}, {name: [] for name, _ in scenarios}
        for round_number in range(1, args.rounds + 1):
            for name, env in scenarios:
                log(f"{name} and its floor ({proto}, round {round_number} of {args.rounds})")
                floor = wrk(url(proto, floor=True) + "/v1/music/health", args.duration, 32, {"BENCH_PATH": "/v1/music/health"},
                            floor_processes)
                floors.append(floor)
                on_floor = name == FLOOR_ADD
                # The service's adds take fresh target collections; the floor's change nothing.
                fresh_targets = env.get("BENCH_MODE") == "add" and not on_floor
                if fresh_targets:
                    env = {**env, "BENCH_TARGET_OFFSET": str(next_target)}
                result = wrk(url(proto, floor=on_floor) + env.get("BENCH_PATH", "/"), args.duration, 32, env,
                             floor_processes if on_floor else stack_processes)
                if fresh_targets:
                    next_target += result["requests"] // len(data["tracks"]) + 1
                    if next_target > ADD_TARGETS:
                        failures.append(f"add ran out of fresh target collections ({ADD_TARGETS})")
                runs[name].append(result)
                ratios[name].append(result["rps"] / floor["rps"])
        floor_rps = statistics.median(f["rps"] for f in floors)
        rows.append({"scenario": f"C floor (median of {len(floors)})", "proto": proto, "rps": floor_rps,
                     "p50_ms": statistics.median(f["p50_us"] for f in floors) / 1000,
                     "p99_ms": statistics.median(f["p99_us"] for f in floors) / 1000, "ratio": 1.0, "unexpected": 0,
                     "cpu_us": median_cpu(floors), "rounds_rps": [f["rps"] for f in floors]})
        for name, results in runs.items():
            unexpected = 0
            for result in results:
                count = sum(n for status, n in result["statuses"].items() if not status.startswith("2"))
                count += sum(result["socket_errors"].values())
                if count:
                    failures.append(f"{name} ({proto}): {count} unexpected answers {result['statuses']} {result['socket_errors']}")
                unexpected += count
            rows.append({"scenario": name, "proto": proto, "rps": statistics.median(r["rps"] for r in results),
                         "p50_ms": statistics.median(r["p50_us"] for r in results) / 1000,
                         "p99_ms": statistics.median(r["p99_us"] for r in results) / 1000,
                         "ratio": statistics.median(ratios[name]), "unexpected": unexpected, "cpu_us": median_cpu(results),
                         "rounds_rps": [r["rps"] for r in results], "rounds_ratio": ratios[name]})

    metrics = metrics_overhead(args, [(name, env) for name, env in scenarios if name in METRICS_SCENARIOS],
                               url("http"), stack_processes, failures)

    log("growth: deep vs shallow page; add to 9,000-10,000 vs 10-1,010 tracks, alternating in chunks of 200 (1 connection)")
    growth = {}
    for label, path, extra in [
        ("shallow page", f"{base}/{c['small']}/tracks?limit=50", {}),
        ("deep page", f"{base}/{c['large']}/tracks?limit=50&offset=9950", {}),
    ]:
        growth[label] = wrk(url("http") + path, 3, 1, {"BENCH_PATH": path, "BENCH_KEY": key, **extra})
    # The two add sides alternate in five chunks of 200 adds (each a commit of its
    # own, so each add waits for an fsync): both see the same spells of the shared
    # disk, where one run of 1,000 after the other compared two different moments.
    # A side's p50 is the median of its chunks' p50s.
    chunks, per_chunk = 5, 200
    samples = {}
    for chunk in range(chunks):
        for label, collection, offset in [("add to 10-track", c["add_small"], 10), ("add to 10,000-track", c["add_large"], 9_000)]:
            first = offset + chunk * per_chunk
            ids = os.path.join(args.out, f"growth-{collection}.txt")
            with open(ids, "w") as handle:
                handle.write("\n".join(data["tracks"][first:first + per_chunk]) + "\n")
            target = os.path.join(args.out, f"growth-target-{collection}.txt")
            with open(target, "w") as handle:
                handle.write(f"{base}/{collection}/tracks\n")
            # The run ends at the limit (200 adds take well under a second); 5 s
            # bounds a slow spell.
            samples.setdefault(label, []).append(wrk(url("http") + "/", 5, 1, {
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

    log("memory: worker RSS before, after 100k and after 200k requests")
    pid = int(open(args.worker_pid_file).read())
    memory = {"before_kib": rss_kib(pid)}
    get_env = {"BENCH_PATH": f"{base}/{c['small']}", "BENCH_KEY": key, "BENCH_LIMIT": "100000"}
    for label in ["after_100k_kib", "after_200k_kib"]:
        result = wrk(url("http") + get_env["BENCH_PATH"], 120, 32, get_env)
        if result["requests"] < 100_000:
            failures.append(f"memory run ended after {result['requests']} requests")
        memory[label] = rss_kib(pid)
        memory[label.replace("_kib", "_requests")] = result["requests"]
    memory["growth_percent"] = (memory["after_200k_kib"] - memory["after_100k_kib"]) * 100 / memory["after_100k_kib"]

    report(args, rows, metrics, growth, reorder_ms, memory, failures)
    return 1 if failures else 0


def metrics_overhead(args, scenarios, on_url, on_processes, failures):
    """Each scenario against the service stack (metrics on) and the worker with
    metrics off (same database, same nginx configuration), HTTP, in rounds whose
    order alternates (on then off, off then on), so that a slow spell of the shared
    machine weighs on both sides. The ratio is on/off of the sides' median req/s."""
    off_url = f"http://127.0.0.1:{args.off_http_port}"
    off_processes = processes(args.off_worker_pid_file, args.off_nginx_pid_file)
    sides = {"on": (on_url, on_processes), "off": (off_url, off_processes)}
    results = []
    for name, env in scenarios:
        runs = {"on": [], "off": []}
        for round_number in range(1, args.rounds + 1):
            for side in (["on", "off"] if round_number % 2 else ["off", "on"]):
                log(f"{name}, metrics {side} (http, round {round_number} of {args.rounds})")
                base_url, measure = sides[side]
                runs[side].append(wrk(base_url + env["BENCH_PATH"], args.duration, 32, env, measure))
        for side, side_runs in runs.items():
            for run in side_runs:
                count = sum(n for status, n in run["statuses"].items() if not status.startswith("2"))
                count += sum(run["socket_errors"].values())
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


def report(args, rows, metrics, growth, reorder_ms, memory, failures):
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
        ("add track >= 0.5x floor (HTTP)", f"{ratio('add track (new member)'):.2f}x", ratio("add track (new member)") >= 0.5),
        ("create >= 0.5x floor (HTTP)", f"{ratio('create collection'):.2f}x", ratio("create collection") >= 0.5),
        *[(f"{row['scenario']}: metrics on >= {METRICS_MIN_RATIO}x off (HTTP)", f"{row['ratio']:.3f}x",
           row["ratio"] >= METRICS_MIN_RATIO) for row in metrics],
        ("deep page <= 1.5x shallow page (p50)", f"{deep:.2f}x", deep <= 1.5),
        ("add to 10,000-track <= 1.5x add to 10-track (p50)", f"{add:.2f}x", add <= 1.5),
        ("full 10,000-track reorder <= 150 ms (median of 5)", f"{reorder:.1f} ms", reorder <= 150),
        ("worker RSS <= 64 MiB", f"{memory['after_200k_kib'] / 1024:.1f} MiB", memory["after_200k_kib"] <= 64 * 1024),
        ("RSS growth 100k -> 200k < 5%", f"{memory['growth_percent']:.2f}%", memory["growth_percent"] < 5),
    ]
    lines = [f"Benchmark of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {args.machine}",
             f"wrk -t1 -c32 -d{args.duration}s through nginx, {args.rounds} rounds, each scenario run right after a floor run of its own (each row: the median of its runs; x floor: the median of the rounds' ratios to the adjacent floor run); worker: 1 process, 64 threads; store: {args.store}.",
             "CPU us/req: user + system CPU per answered request of the worker process (the C floor's for the floor rows), "
             "of nginx's worker processes and of wrk, from /proc and getrusage over each run. "
             f"{FLOOR_ADD}: the C floor sent the add-track scenario's requests (a POST with a JSON body each), "
             "what nginx and wrk alone make of a write.", "",
             "| scenario | proto | req/s | p50 ms | p99 ms | x floor | unexpected | CPU us/req: worker | nginx | wrk |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        cpu = row["cpu_us"]
        lines.append(f"| {row['scenario']} | {row['proto']} | {row['rps']:,.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} "
                     f"| {row['ratio']:.2f} | {row['unexpected']} | {cpu['worker']:.0f} | {cpu['nginx']:.0f} | {cpu['wrk']:.0f} |")
    lines += ["", f"Metrics on (the worker above) and off (a second worker, MUSIC_METRICS=off, on the same database behind "
              f"the same nginx configuration), HTTP, {args.rounds} rounds alternating which side runs first; "
              "on/off: the ratio of the sides' median req/s.", "",
              "| metrics on / off | req/s on | req/s off | on/off | p99 ms on | p99 ms off | worker CPU us/req on | off |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in metrics:
        lines.append(f"| {row['scenario']} | {row['on_rps']:,.0f} | {row['off_rps']:,.0f} | {row['ratio']:.3f} "
                     f"| {row['on_p99_ms']:.2f} | {row['off_p99_ms']:.2f} | {row['on_worker_cpu_us']:.0f} "
                     f"| {row['off_worker_cpu_us']:.0f} |")
    lines += ["", "| growth (1 connection) | p50 ms | p99 ms |", "|---|---:|---:|"]
    for label, result in growth.items():
        lines.append(f"| {label} | {result['p50_us'] / 1000:.2f} | {result['p99_us'] / 1000:.2f} |")
    lines += ["", f"Full 10,000-track reorder, end to end: median {reorder:.1f} ms, max {max(reorder_ms):.1f} ms (5 runs).",
              f"Worker RSS: {memory['before_kib'] / 1024:.1f} MiB before, {memory['after_100k_kib'] / 1024:.1f} MiB after "
              f"{memory['after_100k_requests']:,} requests, {memory['after_200k_kib'] / 1024:.1f} MiB after "
              f"{memory['after_100k_requests'] + memory['after_200k_requests']:,} ({memory['growth_percent']:+.2f}%).",
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
        json.dump({"rows": rows, "metrics_overhead": metrics, "growth": growth, "reorder_ms": reorder_ms, "memory": memory,
                   "targets": [{"target": n, "measured": v, "met": m} for n, v, m in targets], "failures": failures},
                  handle, indent=2)


if __name__ == "__main__":
    sys.exit(main())
