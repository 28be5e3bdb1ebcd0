"""deploy/profile --memory: one release worker (the deployment's thread count),
natively on a copy of deploy/bench's database, sent every cache-miss target of
deploy/bench (list tracks and get collection) over as many FastCGI connections
as it has threads, so every thread's read connection works; then its memory
from /proc: VmRSS (what deploy/bench's RSS target reads), split into anonymous
memory (the heap: SQLite's page caches, statements, the read caches) and mapped
files (the binary, libraries, and SQLite's memory-mapped database), and the
proportional share (Pss) of smaps_rollup, where a page mapped by several
connections or processes counts once."""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

from profile import Connection


def memory(pid):
    """VmRSS, RssAnon, RssFile (status) and Pss, Pss_Anon, Pss_File (smaps_rollup), in KiB."""
    values = {}
    for path, names in [(f"/proc/{pid}/status", ("VmRSS", "RssAnon", "RssFile", "RssShmem")),
                        (f"/proc/{pid}/smaps_rollup", ("Pss", "Pss_Anon", "Pss_File"))]:
        with open(path) as handle:
            for line in handle:
                name, _, rest = line.partition(":")
                if name in names:
                    values[name] = int(rest.split()[0])
    return values


def anonymous_regions(pid):
    """Resident anonymous memory by kind of mapping, in KiB: the main heap (brk),
    glibc's malloc arenas of other threads (mappings aligned to 64 MiB), thread
    stacks (each after a guard page), the rest."""
    kinds = {"heap": 0, "malloc arenas": 0, "thread stacks": 0, "other": 0}
    kind = None
    previous = None
    with open(f"/proc/{pid}/smaps") as handle:
        for line in handle:
            fields = line.split()
            if "-" in fields[0] and not fields[0].endswith(":"):
                start, end = (int(part, 16) for part in fields[0].split("-"))
                name = fields[5] if len(fields) > 5 else ""
                mapping = (end - start, fields[1], name)
                if name.startswith("/") or name.startswith("[v"):
                    kind = None
                elif name == "[heap]":
                    kind = "heap"
                elif fields[1] == "rw-p" and start % (64 << 20) == 0:
                    kind = "malloc arenas"
                elif fields[1] == "rw-p" and previous and previous[0] == 4096 and previous[1] == "---p" and not previous[2]:
                    kind = "thread stacks"
                else:
                    kind = "other"
                previous = mapping
            elif fields[0] == "Rss:" and kind:
                kinds[kind] += int(fields[1])
    return kinds


def counters(pid):
    """Read system calls (/proc/PID/io syscr: read, pread, ...) and CPU seconds (user, system) so far."""
    with open(f"/proc/{pid}/io") as handle:
        reads = next(int(line.split()[1]) for line in handle if line.startswith("syscr:"))
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return reads, int(fields[11]) / ticks, int(fields[12]) / ticks


def main():
    parser = argparse.ArgumentParser()
    for name in ["binary", "db", "seed", "list_miss", "get_miss", "out"]:
        parser.add_argument(f"--{name.replace('_', '-')}", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=2, help="passes over every target")
    args = parser.parse_args()
    key = json.load(open(args.seed))["key"]
    paths = [line.strip() for name in (args.list_miss, args.get_miss) for line in open(name) if line.strip()]
    sock = os.path.join(args.out, "memory.sock")
    log = open(os.path.join(args.out, "memory-worker.log"), "w")
    worker = subprocess.Popen([args.binary, "--db", args.db, "--socket", sock, "--threads", str(args.threads)],
                              stdout=log, stderr=log)
    try:
        deadline = time.time() + 120
        while not os.path.exists(sock):
            if worker.poll() is not None or time.time() > deadline:
                sys.exit(f"the worker did not start: see {args.out}/memory-worker.log")
            time.sleep(0.1)
        time.sleep(0.5)
        started = memory(worker.pid)
        before = counters(worker.pid)
        failures = []

        def client(index):
            connection = Connection(sock)
            for _ in range(args.rounds):
                for path in paths[index::args.threads]:
                    status, _ = connection.request("GET", path, key)
                    if not status.startswith("Status: 200"):
                        failures.append(status)
                        return

        clients = [threading.Thread(target=client, args=(index,)) for index in range(args.threads)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(timeout=1800)
        if failures or any(thread.is_alive() for thread in clients):
            sys.exit(f"unexpected answers: {failures[:3]}")
        after = memory(worker.pid)
        regions = anonymous_regions(worker.pid)
        spent = [b - a for a, b in zip(before, counters(worker.pid))]
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    requests = args.rounds * len(paths)
    print(f"one worker of {args.threads} threads, {args.rounds} x {len(paths):,} cache-miss requests "
          f"over {args.threads} connections: per request {spent[0] / requests:.2f} read system calls "
          f"(/proc/PID/io syscr), CPU {spent[1] * 1e6 / requests:.0f} us user + {spent[2] * 1e6 / requests:.0f} us system "
          f"(wall-clock: moves with the machine's load); memory (MiB):")
    print("| | VmRSS | RssAnon | RssFile | Pss | Pss_Anon | Pss_File |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, values in [("started", started), ("after", after)]:
        print(f"| {label} | " + " | ".join(f"{values.get(name, 0) / 1024:.1f}" for name in
                                          ("VmRSS", "RssAnon", "RssFile", "Pss", "Pss_Anon", "Pss_File")) + " |")
    print("Anonymous memory after, by mapping (MiB): " + ", ".join(f"{kind} {kib / 1024:.1f}" for kind, kib in regions.items()))


if __name__ == "__main__":
    main()
