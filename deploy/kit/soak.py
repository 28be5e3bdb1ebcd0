#!/usr/bin/env python3
"""Soak: a bounded mixed load through nginx for N minutes (deploy/soak), printing
throughput, errors and each worker's RSS every segment. Expects zero errors and
flat memory."""
import argparse
import http.client
import json
import os
import subprocess
import sys
import time

from common import music_admin, rss_kib

KIT = os.path.dirname(os.path.abspath(__file__))


def rss_mib(pid_file):
    try:
        return rss_kib(int(open(pid_file).read())) / 1024
    except (OSError, ValueError, RuntimeError):
        return float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--var", required=True)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--minutes", type=float, default=5)
    args = parser.parse_args()
    db = os.path.join(args.var, "music.sqlite")
    demo = music_admin(args.bin, db, "demo")
    key, org, tracks = demo["api_key"], demo["organization_id"], demo["track_ids"]
    connection = http.client.HTTPConnection("127.0.0.1", args.port)

    def post(path, body):
        connection.request("POST", path, body=json.dumps(body), headers={"X-API-Key": key, "Content-Type": "application/json"})
        response = connection.getresponse()
        return json.loads(response.read())

    base = f"/v1/music/{org}/collections"
    reads = post(base, {"name": "Soak reads"})["id"]
    for track in tracks:
        post(f"{base}/{reads}/tracks", {"track_id": track})
    targets = os.path.join(args.var, "soak-targets.txt")
    with open(targets, "w") as handle:
        for index in range(2000):
            handle.write(f"{base}/{post(base, {'name': f'Soak {index}'})['id']}/tracks\n")
    tracks_file = os.path.join(args.var, "soak-tracks.txt")
    with open(tracks_file, "w") as handle:
        handle.write("\n".join(tracks) + "\n")

    segments = [
        ("get collection", {"BENCH_PATH": f"{base}/{reads}"}),
        ("list tracks", {"BENCH_PATH": f"{base}/{reads}/tracks?limit=50"}),
        ("add track", {"BENCH_MODE": "add", "BENCH_TRACKS": tracks_file, "BENCH_TARGETS": targets}),
        ("create collection", {"BENCH_MODE": "create", "BENCH_PATH": base}),
    ]
    deadline = time.time() + args.minutes * 60
    errors = 0
    started = time.time()
    print(f"{'elapsed':>8} {'segment':<18} {'req/s':>8} {'errors':>7}  " +
          "  ".join(f"worker-{i} RSS" for i in range(1, args.workers + 1)))
    index = 0
    while time.time() < deadline:
        name, env = segments[index % len(segments)]
        seconds = max(1, min(15, int(deadline - time.time())))
        output = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", os.path.join(KIT, "scenario.lua"),
                                 f"http://127.0.0.1:{args.port}{env.get('BENCH_PATH', '/')}"],
                                capture_output=True, text=True, env={**os.environ, "BENCH_KEY": key, **env}, check=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        bad = sum(count for status, count in result["statuses"].items() if not status.startswith("2"))
        bad += sum(result["socket_errors"].values())
        errors += bad
        rss = "  ".join(f"{rss_mib(os.path.join(args.var, 'run', f'worker-{i}.pid')):>9.1f} MiB" for i in range(1, args.workers + 1))
        print(f"{time.time() - started:>7.0f}s {name:<18} {result['requests'] / (result['duration_us'] / 1e6):>8.0f} {bad:>7}  {rss}",
              flush=True)
        index += 1
    print(f"soak: {1 if errors == 0 else 0} passed, {1 if errors else 0} failed ({errors} errors)")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
