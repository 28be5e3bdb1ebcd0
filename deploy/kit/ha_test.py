#!/usr/bin/env python3
"""HA test driver (deploy/ha-test): the crash test's client load of creates, adds,
removes and reorders, sent through nginx to two application hosts whose database
is a Patroni cluster, while deploy/ha-test fails the primary over.

A write that gets no answer or a 5xx is *in doubt*: it may or may not have been
applied. The client sends it again, safely, until it gets a definitive answer
(within --doubt-bound seconds):
  - a create with the same Idempotency-Key: 201 either way, `Idempotent-Replayed:
    true` when an earlier attempt had applied it;
  - an add or a remove as it is (both idempotent: 200, "already in" / "not in"
    when an earlier attempt had applied it);
  - a reorder with If-Match of the ETag read before the first attempt: 200 applies
    it now (no earlier attempt had), 412 means an earlier attempt applied it.
Each in-doubt write's final state is then read back and must be the change
applied exactly once. At the end, as the crash test: every acknowledged write
present exactly once (also those of earlier scenarios, kept in --state), dense
positions, true counts, every failure a JSON envelope; and the longest time
without a successful write, which must stay within --max-gap.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid

from crash_test import Client, Counters, verify


class WriteGap:
    """The longest time without a successful write, from the start of the load to its end.
    Only real successes move `last`: an outage still on at the stop, whose retries
    succeed after it, is one gap from the last success before it."""

    def __init__(self, start=None):
        self.lock = threading.Lock()
        self.start = time.monotonic() if start is None else start
        self.last = self.start
        self.longest = 0.0
        self.longest_from = 0.0  # seconds after the start
        self.stopped_at = float("inf")

    def _count(self, now):
        if now - self.last > self.longest:
            self.longest, self.longest_from = now - self.last, self.last - self.start

    def success(self, now=None):
        """A write succeeded (at `now`)."""
        with self.lock:
            now = time.monotonic() if now is None else now
            self._count(now)
            self.last = max(self.last, now)

    def stop(self, now=None):
        """The load is told to stop: not a write (the clients' writes in flight go on)."""
        with self.lock:
            self.stopped_at = time.monotonic() if now is None else now

    def close(self, end=None):
        """The clients' last writes ended (at `end`): when none succeeded after the stop,
        the clients were without a successful write until the end."""
        with self.lock:
            end = time.monotonic() if end is None else end
            if self.last < self.stopped_at:
                self._count(end)


class Doubt:
    """Counts of in-doubt writes and how each ended."""

    def __init__(self):
        self.lock = threading.Lock()
        self.values = {"in_doubt": 0, "applied_earlier": 0, "applied_by_retry": 0, "unresolved": 0,
                       "checked": 0, "wrong": 0}

    def add(self, name):
        with self.lock:
            self.values[name] += 1


class Load:
    def __init__(self, args, tracks, counters, gap, doubt):
        self.args, self.tracks, self.counters, self.gap, self.doubt = args, tracks, counters, gap, doubt
        self.created = []          # (name, acknowledged) of every create sent
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def client(self):
        client = Client(self.args.port, self.args.key, self.args.org, self.counters)
        # Above nginx's fastcgi_read_timeout (30 s): a failure is nginx's answer, not a client timeout.
        client.timeout = 40
        return client

    def until_definitive(self, client, method, path, body, headers):
        """Sends the request until an answer that is neither missing nor a 5xx, for at
        most --doubt-bound seconds. Returns (status, body, attempts); status None
        when no definitive answer came in time."""
        deadline = time.monotonic() + self.args.doubt_bound
        attempts, delay = 0, 0.1
        while True:
            status, parsed = client.call(method, path, body, headers)
            attempts += 1
            if status is not None and status >= 500 and status != 503:
                # The store answers 503 (SERVICE_UNAVAILABLE) while no primary takes
                # writes; any other 5xx (nginx's 502 or 504: a worker gone or held past
                # fastcgi_read_timeout) breaks the bounds: counted, the run fails. Still
                # retried below, so the write's final state is checked too.
                self.counters.add("unexpected_5xx", problem=f"{method} {path}: {status} {parsed}")
            if status is not None and status < 500:
                if status < 300:
                    self.gap.success()
                if attempts > 1:
                    self.doubt.add("in_doubt")
                return status, parsed, attempts
            if time.monotonic() >= deadline:
                self.doubt.add("in_doubt")
                self.doubt.add("unresolved")
                self.counters.add("lost", problem=f"{method} {path}: no definitive answer in {self.args.doubt_bound} s")
                return None, None, attempts
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def read_back(self, client, collection):
        """(members in order, ETag), asked until the service answers (--doubt-bound)."""
        deadline = time.monotonic() + self.args.doubt_bound
        while time.monotonic() < deadline:
            status, body = client.call("GET", f"/collections/{collection}/tracks?limit=500")
            if status == 200:
                return [item["track_id"] for item in body["items"]], client.headers.get("ETag")
            time.sleep(0.2)
        raise RuntimeError(f"cannot read {collection} back")

    def check_final(self, client, collection, expected, what):
        """After an in-doubt write: the collection must hold the change exactly once."""
        actual, etag = self.read_back(client, collection)
        self.doubt.add("checked")
        if actual != expected:
            self.doubt.add("wrong")
            kind = "doubled" if len(actual) != len(set(actual)) else "lost"
            self.counters.add(kind, problem=f"in doubt {what} on {collection}: expected {expected}, found {actual}")
        return actual, etag

    def worker(self, index, results):
        collections = results[index] = {}
        try:
            self.run(index, collections)
        except Exception as error:  # a thread that dies must fail the run, not shrink it
            self.counters.add("lost", problem=f"client {index} stopped: {error!r}")

    def run(self, index, collections):
        rng = random.Random(self.args.seed * 1000 + index)
        client = self.client()
        etags = {}
        while not self.stopped.is_set():
            if len(collections) < 3 or rng.random() < 0.05:
                self.create(client, rng, collections, etags)
                continue
            collection = rng.choice(list(collections))
            model = collections[collection]
            op = rng.random()
            if op < 0.5 or not model:
                track = rng.choice(self.tracks)
                after = model if track in model else model + [track]
                status, body, attempts = self.until_definitive(
                    client, "POST", f"/collections/{collection}/tracks", {"track_id": track}, None)
                changed_detail = "Track added to collection."
                what = "add"
            elif op < 0.8:
                track = rng.choice(model)
                after = [t for t in model if t != track]
                status, body, attempts = self.until_definitive(
                    client, "DELETE", f"/collections/{collection}/tracks/{track}", None, None)
                changed_detail = "Track removed from collection."
                what = "remove"
            else:
                if etags.get(collection) is None:  # an answer without one: read it
                    actual, etags[collection] = self.read_back(client, collection)
                    if actual != model:
                        self.counters.add("lost", problem=f"{collection}: model {model}, server {actual}")
                        collections[collection] = model = actual
                    if not model:
                        continue
                listed = rng.sample(model, k=max(1, len(model) // 2))
                after = listed + [t for t in model if t not in listed]
                status, body, attempts = self.until_definitive(
                    client, "PATCH", f"/collections/{collection}/order", {"ordered_track_ids": listed},
                    {"If-Match": etags[collection]})
                what = "reorder"
                if status == 412 and attempts > 1:
                    # The ETag no longer matches: only this thread writes this
                    # collection, so an earlier attempt applied the reorder.
                    self.doubt.add("applied_earlier")
                    collections[collection], etags[collection] = self.check_final(client, collection, after, what)
                    continue
                changed_detail = None
            if status == 200:
                etag = client.headers.get("ETag")
                if attempts > 1:
                    # 200 to a reorder with the first If-Match: no earlier attempt applied it.
                    earlier = changed_detail is not None and body.get("detail") != changed_detail and after != model
                    self.doubt.add("applied_earlier" if earlier else "applied_by_retry")
                    after, etag = self.check_final(client, collection, after, what)
                collections[collection], etags[collection] = after, etag
                continue
            if status is not None:
                self.counters.add("lost", problem=f"{what} on {collection}: unexpected {status} {body}")
            # Unresolved or refused: follow the server from here on (already counted).
            collections[collection], etags[collection] = self.read_back(client, collection)

    def create(self, client, rng, collections, etags):
        name = f"ha-{uuid.UUID(int=rng.getrandbits(128)).hex}"
        status, body, attempts = self.until_definitive(
            client, "POST", "/collections", {"name": name}, {"Idempotency-Key": f"key-{name}"})
        with self.lock:
            self.created.append((name, status == 201))
        if status != 201:
            if status is not None:
                self.counters.add("lost", problem=f"create {name}: unexpected {status} {body}")
            return
        collection = body["id"]
        collections[collection], etags[collection] = [], client.headers.get("ETag")
        if attempts > 1:
            replayed = client.headers.get("Idempotent-Replayed") == "true"
            self.doubt.add("applied_earlier" if replayed else "applied_by_retry")
            # The final state: the collection exists under its name, once (verify counts names).
            deadline = time.monotonic() + self.args.doubt_bound
            while True:
                status, read = client.call("GET", f"/collections/{collection}")
                if status == 200 or time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
            self.doubt.add("checked")
            if status != 200 or read.get("name") != name:
                self.doubt.add("wrong")
                self.counters.add("lost", problem=f"in doubt create {name}: read back {status}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", required=True, help="its name, in the output")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--org", required=True)
    parser.add_argument("--tracks", required=True, help="a file of track ids, one per line")
    parser.add_argument("--psql-url", required=True, help="where to read the data back (the primary)")
    parser.add_argument("--ready-file", required=True, help="created once a first write is acknowledged")
    parser.add_argument("--stop-file", required=True, help="the load stops when it exists")
    parser.add_argument("--seconds", type=float, required=True, help="the load stops after this at the latest")
    parser.add_argument("--state", required=True,
                        help="a JSON file of the earlier scenarios' collections, checked again and extended")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--doubt-bound", type=float, default=60.0,
                        help="seconds an in-doubt write is retried before it counts as unresolved")
    parser.add_argument("--max-gap", type=float, required=True,
                        help="longest time allowed without a successful write")
    parser.add_argument("--finish-bound", type=float, required=True,
                        help="seconds after the stop by which the clients' last writes and the checks must be done")
    args = parser.parse_args()
    # From the environment, not the command line (which any local user can read).
    args.key = os.environ["MUSIC_BED_API_KEY"]
    tracks = open(args.tracks).read().split()

    counters, gap, doubt = Counters(), WriteGap(), Doubt()
    counters.values["unexpected_5xx"] = 0
    load = Load(args, tracks, counters, gap, doubt)
    results = [None] * args.clients
    # Daemons: a client still busy past --finish-bound is reported, not waited for.
    threads = [threading.Thread(target=load.worker, args=(index, results), daemon=True)
               for index in range(args.clients)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + args.seconds
    ready = False
    while time.monotonic() < deadline and not os.path.exists(args.stop_file):
        if not ready and counters.values["acknowledged_writes"] > 0:
            open(args.ready_file, "w").close()
            ready = True
        time.sleep(0.05)
    gap.stop()
    finish_by = gap.stopped_at + args.finish_bound
    load.stopped.set()
    for thread in threads:
        thread.join(max(0.0, finish_by - time.monotonic()))
    busy = sum(thread.is_alive() for thread in threads)
    gap.close()
    if busy:
        counters.add("lost", problem=f"{busy} client(s) still busy {args.finish_bound:g} s after the stop")

    def sql(query):
        # Bounded: the server ends a statement after 10 s, the call after 30 s.
        return subprocess.run(["psql", "--no-psqlrc", "-At", "-d", args.psql_url, "-c", query],
                              capture_output=True, text=True, check=True, timeout=30,
                              env={**os.environ, "PGOPTIONS": "-c statement_timeout=10s"}).stdout

    # The earlier scenarios' collections must still be as they were acknowledged.
    earlier = {"created": [], "models": {}}
    if os.path.exists(args.state):
        with open(args.state) as handle:
            earlier = json.load(handle)
    created = [tuple(item) for item in earlier["created"]] + load.created
    results.append(earlier["models"])
    # The checks in a daemon thread, within what is left of --finish-bound.
    checked = {}

    def check():
        try:
            checked["bad_positions"] = verify(args.port, args.key, args.org, created, results, counters, sql)
        except (RuntimeError, subprocess.SubprocessError) as error:
            checked["error"] = error

    checker = threading.Thread(target=check, daemon=True)
    checker.start()
    checker.join(max(0.0, finish_by - time.monotonic()))
    bad_positions = checked.get("bad_positions")
    if bad_positions is None:
        # The service or the primary did not answer the checks in time: report, fail.
        reason = checked.get("error", f"not done {args.finish_bound:g} s after the stop")
        counters.add("lost", problem=f"the checks could not read the data back: {reason}")
        bad_positions = ["(unchecked)"]
    models = {}
    for result in results:
        models.update(result or {})
    with open(args.state, "w") as handle:
        json.dump({"created": created, "models": models}, handle)

    values, doubts = counters.values, doubt.values
    print(f"scenario {args.scenario}: requests {values['requests']}, acknowledged writes {values['acknowledged_writes']}, "
          f"in doubt {doubts['in_doubt']} (applied by an earlier attempt {doubts['applied_earlier']}, "
          f"by the retry {doubts['applied_by_retry']}, unresolved {doubts['unresolved']}; "
          f"final state checked {doubts['checked']}, wrong {doubts['wrong']}), "
          f"lost {values['lost']}, doubled {values['doubled']}, non-JSON failures {values['non_json_failures']}, "
          f"5xx other than 503 {values['unexpected_5xx']}, "
          f"collections with bad positions or counts {len(bad_positions)}, "
          f"longest time without a successful write {gap.longest:.2f} s "
          f"(from {gap.longest_from:.1f} s into the load, which stopped at {gap.stopped_at - gap.start:.1f} s; limit {args.max_gap:g} s), "
          f"collections checked {len(models)}")
    print(f"failures by kind: {dict(sorted(counters.failures.items()))}")
    for problem in counters.problems[:20]:
        print(f"  problem: {problem}")
    ok = (values["lost"] == 0 and values["doubled"] == 0 and values["non_json_failures"] == 0 and not bad_positions
          and values["acknowledged_writes"] > 0 and values["unexpected_5xx"] == 0
          and doubts["unresolved"] == 0 and doubts["wrong"] == 0
          and counters.failures.get("no answer", 0) == 0 and gap.longest <= args.max_gap)
    print(f"ha-test {args.scenario}: {1 if ok else 0} passed, {0 if ok else 1} failed", flush=True)
    # Not sys.exit: a client or check thread still busy must not hold the exit.
    os._exit(0 if ok else 1)


if __name__ == "__main__":
    sys.exit(main())
