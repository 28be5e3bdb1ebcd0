#!/usr/bin/env python3
"""Cluster test driver (deploy/cluster-test): the crash test's client load of
creates, adds, removes and reorders, sent through nginx to two application
hosts, while deploy/cluster-test takes one host away and brings it back.
Checks the same way as the crash test, against PostgreSQL: every acknowledged
write present exactly once, dense positions, true counts; and continuity: the
longest time without any successful answer."""
import argparse
import os
import subprocess
import sys
import threading
import time

from crash_test import Client, Counters, verify, worker_thread


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--org", required=True)
    parser.add_argument("--tracks", required=True, help="a file of track ids, one per line")
    parser.add_argument("--psql-url", required=True, help="where to read the data back (a unix socket URL)")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-gap", type=float, default=5.0, help="longest time allowed without a successful answer")
    args = parser.parse_args()
    # From the environment, not the command line (which any local user can read).
    args.key = os.environ["MUSIC_BED_API_KEY"]
    tracks = open(args.tracks).read().split()

    counters = Counters()
    deadline = time.time() + args.seconds
    created = []
    results = [None] * args.clients

    def run(index):
        client = Client(args.port, args.key, args.org, counters)
        results[index] = worker_thread(client, tracks, deadline, counters, created, seed=index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    def sql(query):
        # Bounded: the server ends a statement after 10 s, the call after 30 s.
        return subprocess.run(["psql", "--no-psqlrc", "-At", "-d", args.psql_url, "-c", query],
                              capture_output=True, text=True, check=True, timeout=30,
                              env={**os.environ, "PGOPTIONS": "-c statement_timeout=10s"}).stdout

    bad_positions = verify(args.port, args.key, args.org, created, results, counters, sql)
    values = counters.values
    print(f"requests {values['requests']}, successful answers {values['acknowledged']}, "
          f"acknowledged writes {values['acknowledged_writes']}, failed {values['failed']}, "
          f"lost {values['lost']}, doubled {values['doubled']}, non-JSON failures {values['non_json_failures']}, "
          f"collections with bad positions or counts {len(bad_positions)}, "
          f"longest time without a successful answer {counters.longest_gap:.2f} s")
    print(f"failures by kind: {dict(sorted(counters.failures.items()))}")
    for problem in counters.problems[:20]:
        print(f"  problem: {problem}")
    ok = (values["lost"] == 0 and values["doubled"] == 0 and values["non_json_failures"] == 0 and not bad_positions
          and values["acknowledged"] > 0 and counters.longest_gap <= args.max_gap)
    print(f"cluster-test load: {1 if ok else 0} passed, {0 if ok else 1} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
