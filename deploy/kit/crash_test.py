#!/usr/bin/env python3
"""Crash test: a client load of creates, adds, removes and reorders through nginx
while the workers are killed with SIGKILL again and again (deploy/crash-test).

Every request and its answer is recorded. Each client thread owns its collections,
so it knows what the server must hold: after every acknowledged change its model
moves; after a failed one it reads the collection back, which must equal the model
with the failed change either applied or not; anything else is a lost or doubled
write. At the end: every acknowledged create exists exactly once, every collection
matches its model with dense positions and a true track_count, PRAGMA
integrity_check is ok, every failure was a JSON envelope, and the service is healthy.
"""
import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid

from common import music_admin


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        # acknowledged: every 2xx answer, reads included; acknowledged_writes: the
        # 2xx answers to writes (POST, PATCH, DELETE) alone.
        self.values = {"requests": 0, "acknowledged": 0, "acknowledged_writes": 0, "failed": 0, "kills": 0,
                       "lost": 0, "doubled": 0, "non_json_failures": 0}
        self.problems = []
        self.failures = {}
        self.last_success = time.monotonic()
        self.longest_gap = 0.0

    def note_success(self):
        """Tracks the longest time without any successful answer (service continuity)."""
        with self.lock:
            now = time.monotonic()
            self.longest_gap = max(self.longest_gap, now - self.last_success)
            self.last_success = now

    def note_failure(self, kind):
        with self.lock:
            self.failures[kind] = self.failures.get(kind, 0) + 1

    def add(self, name, amount=1, problem=None):
        with self.lock:
            self.values[name] += amount
            if problem:
                self.problems.append(problem)


class Client:
    # Seconds to wait for an answer (a caller behind nginx may wait past its
    # fastcgi_read_timeout, so that nginx's own answer arrives first).
    timeout = 20

    def __init__(self, port, key, org, counters):
        self.port, self.key, self.org, self.counters = port, key, org, counters
        self.connection = None
        self.headers = None  # the last answer's headers (an http.client.HTTPMessage)

    def call(self, method, path, body=None, extra_headers=None):
        """(status, json) or (None, None) when no answer came; the answer's headers
        in self.headers."""
        self.counters.add("requests")
        self.headers = None
        headers = {"X-API-Key": self.key, **(extra_headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.connection.request(method, f"/v1/music/{self.org}{path}", body=data, headers=headers)
            response = self.connection.getresponse()
            payload = response.read()
            self.headers = response.headers
        except (OSError, http.client.HTTPException):
            self.connection = None
            self.counters.add("failed")
            self.counters.note_failure("no answer")
            return None, None
        try:
            parsed = json.loads(payload)
        except ValueError:
            parsed = None
        if response.status >= 300:
            self.counters.add("failed")
            self.counters.note_failure(f"{method} {response.status}")
            if parsed is None or "error" not in parsed or response.getheader("Content-Type", "") != "application/json":
                self.counters.add("non_json_failures", problem=f"{method} {path}: {response.status} {payload[:120]!r}")
        else:
            self.counters.add("acknowledged")
            if method != "GET":
                self.counters.add("acknowledged_writes")
            self.counters.note_success()
        return response.status, parsed

    def read_members(self, collection):
        """The collection's members in order, asked until the service answers."""
        for _ in range(100):
            status, body = self.call("GET", f"/collections/{collection}/tracks?limit=500")
            if status == 200:
                return [item["track_id"] for item in body["items"]]
            time.sleep(0.1)
        raise RuntimeError(f"cannot read {collection} back")


def worker_thread(client, tracks, deadline, counters, created, seed):
    rng = random.Random(seed)
    collections = {}
    while time.time() < deadline:
        if len(collections) < 3 or rng.random() < 0.05:
            name = f"crash-{uuid.uuid4().hex}"
            status, body = client.call("POST", "/collections", {"name": name})
            created.append((name, status == 201))
            if status == 201:
                collections[body["id"]] = []
            continue
        collection = rng.choice(list(collections))
        model = collections[collection]
        op = rng.random()
        if op < 0.5 or not model:
            track = rng.choice(tracks)
            status, body = client.call("POST", f"/collections/{collection}/tracks", {"track_id": track})
            after = model if track in model else model + [track]
        elif op < 0.8:
            track = rng.choice(model)
            status, body = client.call("DELETE", f"/collections/{collection}/tracks/{track}")
            after = [t for t in model if t != track]
        else:
            listed = rng.sample(model, k=max(1, len(model) // 2))
            status, body = client.call("PATCH", f"/collections/{collection}/order", {"ordered_track_ids": listed})
            after = listed + [t for t in model if t not in listed]
        if status == 200:
            collections[collection] = after
            continue
        actual = client.read_members(collection)
        if actual == after:
            collections[collection] = after
        elif actual != model:
            kind = "doubled" if len(actual) != len(set(actual)) else "lost"
            counters.add(kind, problem=f"{collection}: expected {model} or {after}, found {actual}")
            collections[collection] = actual
    return collections


def verify(port, key, org, created, results, counters, sql):
    """Checks the server against the clients' models; `sql(query)` returns rows, one
    per line. Counts lost and doubled writes; returns the collections whose
    positions are not dense or whose track_count is wrong."""
    # Every acknowledged create exactly once; an unacknowledged one at most once.
    counts = {}
    for name in sql(f"SELECT name FROM collections WHERE organization_id = '{org}'").split():
        counts[name] = counts.get(name, 0) + 1
    for name, acknowledged in created:
        found = counts.get(name, 0)
        if found > 1:
            counters.add("doubled", problem=f"collection {name} created {found} times")
        elif acknowledged and found == 0:
            counters.add("lost", problem=f"acknowledged collection {name} missing")

    # Each collection as its owner's model says, dense, with a true count.
    client = Client(port, key, org, counters)
    for models in results:
        for collection, model in (models or {}).items():
            actual = client.read_members(collection)
            if actual != model:
                counters.add("lost", problem=f"{collection}: model {model}, server {actual}")
    return sql("""
        SELECT c.id FROM collections c LEFT JOIN collection_tracks m ON m.collection_id = c.id
        GROUP BY c.id, c.track_count HAVING count(m.track_id) != c.track_count
            OR (count(m.track_id) > 0 AND (min(m.position) != 0 OR max(m.position) != count(m.track_id) - 1
                OR count(DISTINCT m.position) != count(m.track_id)))""").split()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--var", required=True)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.5)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    db = os.path.join(args.var, "music.sqlite")

    def admin(*arguments):
        return music_admin(args.bin, db, *arguments)

    org = admin("org", "create", "--name", "Crash test")["id"]
    user = admin("user", "create", "--org", org, "--email", "crash@test.invalid", "--capability", "USE_MUSIC_GENERATION")["id"]
    key = admin("key", "create", "--user", user)["key"]
    lines = "".join(json.dumps({"title": f"Crash {i}"}) + "\n" for i in range(60))
    track_file = os.path.join(args.var, "crash-tracks.jsonl")
    with open(track_file, "w") as handle:
        handle.write(lines)
    admin("track", "import", "--org", org, "--owner", user, track_file)
    tracks = subprocess.run(["sqlite3", db, f"SELECT id FROM tracks WHERE organization_id = '{org}'"],
                            capture_output=True, text=True, check=True).stdout.split()

    counters = Counters()
    duration = args.kills * args.interval + 2
    deadline = time.time() + duration
    created = []
    results = [None] * args.clients

    def run(index):
        client = Client(args.port, key, org, counters)
        results[index] = worker_thread(client, tracks, deadline, counters, created, seed=index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(args.clients)]
    for thread in threads:
        thread.start()
    rng = random.Random(42)
    # The first kill once the clients are writing (or after 10 s, so a stack that
    # acknowledges nothing is still killed and reported).
    warmup = time.time() + 10
    while counters.values["acknowledged"] == 0 and time.time() < warmup:
        time.sleep(0.05)
    for _ in range(args.kills):
        index = rng.randint(1, args.workers)
        try:
            pid = int(open(os.path.join(args.var, "run", f"worker-{index}.pid")).read())
            os.kill(pid, signal.SIGKILL)
            counters.add("kills")
        except (OSError, ValueError):
            pass
        time.sleep(args.interval)
    for thread in threads:
        thread.join()

    bad_positions = verify(args.port, key, org, created, results, counters,
                           lambda query: subprocess.run(["sqlite3", db, query], capture_output=True, text=True,
                                                        check=True).stdout)
    integrity = subprocess.run(["sqlite3", db, "PRAGMA integrity_check"], capture_output=True, text=True, check=True).stdout.strip()
    healthy = False
    for _ in range(50):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=5)
            connection.request("GET", "/v1/music/health")
            healthy = connection.getresponse().status == 200
        except OSError:
            pass
        if healthy:
            break
        time.sleep(0.1)

    values = counters.values
    print(f"requests {values['requests']}, successful answers {values['acknowledged']}, "
          f"acknowledged writes {values['acknowledged_writes']}, failed {values['failed']}, "
          f"kills {values['kills']}, lost {values['lost']}, doubled {values['doubled']}, "
          f"non-JSON failures {values['non_json_failures']}, collections with bad positions or counts {len(bad_positions)}, "
          f"integrity {integrity}, healthy {healthy}")
    print(f"failures by kind: {dict(sorted(counters.failures.items()))}")
    for problem in counters.problems[:20]:
        print(f"  problem: {problem}")
    ok = (values["lost"] == 0 and values["doubled"] == 0 and values["non_json_failures"] == 0 and not bad_positions
          and integrity == "ok" and healthy and values["kills"] == args.kills and values["acknowledged"] > 0)
    print(f"crash-test: {1 if ok else 0} passed, {0 if ok else 1} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
