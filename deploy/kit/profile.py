"""deploy/profile's driver: starts the worker under callgrind with instrumentation
off, sends each scenario's requests over one FastCGI connection (100 unmeasured,
then N with instrumentation on), dumps the counts, and prints instructions per
request. The cache-miss scenarios walk deploy/bench's lists of targets (every
request a new target: the read cache, 32 entries a thread, never holds it). The FastCGI client is the protocol's minimum: BEGIN_REQUEST with
keep-alive, PARAMS as nginx sends them, STDIN, and records read until END_REQUEST."""
import argparse
import glob
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6


def record(kind, content=b""):
    padding = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBB", 1, kind, 1, len(content), padding, 0) + content + b"\0" * padding


def pair(name, value):
    def length(n):
        return struct.pack(">B", n) if n < 128 else struct.pack(">I", n | 0x80000000)
    name, value = name.encode(), value.encode()
    return length(len(name)) + length(len(value)) + name + value


class Connection:
    def __init__(self, path):
        self.socket = socket.socket(socket.AF_UNIX)
        self.socket.connect(path)
        self.count = 0

    def request(self, method, uri, key=None, body=b""):
        """One request; returns (status line, body)."""
        self.count += 1
        path, _, query = uri.partition("?")
        params = {
            "QUERY_STRING": query, "REQUEST_METHOD": method, "CONTENT_TYPE": "application/json" if body else "",
            "CONTENT_LENGTH": str(len(body)) if body else "", "SCRIPT_NAME": path, "REQUEST_URI": uri,
            "DOCUMENT_URI": path, "DOCUMENT_ROOT": "/usr/share/nginx/html", "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_SCHEME": "http", "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "nginx",
            "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000", "SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "80",
            "SERVER_NAME": "localhost", "REQUEST_ID": "%032x" % self.count, "HTTP_HOST": "127.0.0.1",
            "HTTP_USER_AGENT": "deploy/profile", "HTTP_ACCEPT": "*/*",
        }
        if key:
            params["HTTP_X_API_KEY"] = key
        if body:
            params["HTTP_CONTENT_TYPE"] = "application/json"
            params["HTTP_CONTENT_LENGTH"] = str(len(body))
        message = record(BEGIN_REQUEST, struct.pack(">HB5x", 1, 1))
        message += record(PARAMS, b"".join(pair(k, v) for k, v in params.items())) + record(PARAMS)
        message += (record(STDIN, body) if body else b"") + record(STDIN)
        self.socket.sendall(message)
        out = b""
        while True:
            kind, content = self._record()
            if kind == STDOUT:
                out += content
            elif kind == END_REQUEST:
                head, _, answer = out.partition(b"\r\n\r\n")
                return head.split(b"\r\n", 1)[0].decode(), answer

    def _exactly(self, count):
        data = b""
        while len(data) < count:
            chunk = self.socket.recv(count - len(data))
            if not chunk:
                raise SystemExit("the worker closed the connection")
            data += chunk
        return data

    def _record(self):
        _, kind, _, length, padding, _ = struct.unpack(">BBHHBB", self._exactly(8))
        return kind, self._exactly(length + padding)[:length]


def main():
    parser = argparse.ArgumentParser()
    for name in ["binary", "db", "seed", "tracks", "out"]:
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--list-miss", required=True, help="deploy/bench's list-miss-paths.txt")
    parser.add_argument("--get-miss", required=True, help="deploy/bench's get-miss-paths.txt")
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    seed = json.load(open(args.seed))
    key, base, collections = seed["key"], seed["base"], seed["collections"]
    tracks = [line.strip() for line in open(args.tracks) if line.strip()]
    n = args.requests
    if n + 100 > len(tracks):
        sys.exit(f"--requests at most {len(tracks) - 100} (one new member per add)")
    list_miss = [line.strip() for line in open(args.list_miss) if line.strip()]
    get_miss = [line.strip() for line in open(args.get_miss) if line.strip()]
    for name, paths in [("list", list_miss), ("get", get_miss)]:
        # Each request a target of its own: a repeat would be a cache hit.
        if n + 100 > len(paths):
            sys.exit(f"--requests at most {len(paths) - 100} ({name}: {len(paths)} cache-miss targets)")

    sock = os.path.join(args.out, "worker.sock")
    log = open(os.path.join(args.out, "worker.log"), "w")
    worker = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={args.out}/callgrind.%p",
         args.binary, "--db", args.db, "--socket", sock, "--threads", "4"], stdout=log, stderr=log)
    try:
        deadline = time.time() + 120
        while not os.path.exists(sock):
            if worker.poll() is not None or time.time() > deadline:
                sys.exit(f"the worker did not start: see {args.out}/worker.log")
            time.sleep(0.2)
        connection = None
        while connection is None:
            try:
                connection = Connection(sock)
            except OSError:
                if worker.poll() is not None or time.time() > deadline:
                    sys.exit(f"the worker does not accept connections: see {args.out}/worker.log")
                time.sleep(0.2)
        status, body = connection.request("POST", base, key, b'{"name":"profile: add target"}')
        if not status.startswith("Status: 201"):
            sys.exit(f"cannot create a collection ({status}): is var/bench from the same run as its database?")
        target = f"{base}/{json.loads(body)['id']}/tracks"

        def add(i):
            return ("POST", target, key, json.dumps({"track_id": tracks[i]}).encode())

        scenarios = [
            ("health", "200", lambda i: ("GET", "/v1/music/health", None, b"")),
            ("get collection", "200", lambda i: ("GET", f"{base}/{collections['small']}", key, b"")),
            ("list tracks (10-track, limit 50)", "200", lambda i: ("GET", f"{base}/{collections['small']}/tracks?limit=50", key, b"")),
            ("list tracks, cache miss (50 of 34 collections)", "200", lambda i: ("GET", list_miss[i], key, b"")),
            ("get collection, cache miss", "200", lambda i: ("GET", get_miss[i], key, b"")),
            ("create collection", "201", lambda i: ("POST", base, key, json.dumps({"name": f"profile {i}"}).encode())),
            ("add track (new member)", "200", add),
        ]
        control = lambda *words: subprocess.run(["callgrind_control", *words, str(worker.pid)], capture_output=True, check=True)
        rows = []
        for index, (name, expected, make) in enumerate(scenarios):
            for i in range(100):
                connection.request(*make(i))
            control("--zero")
            control("--instr=on")
            unexpected = 0
            for i in range(100, 100 + n):
                status, _ = connection.request(*make(i))
                unexpected += not status.startswith(f"Status: {expected}")
            control("--instr=off")
            control(f"--dump=scenario{index}")
            rows.append((name, unexpected))
        worker.terminate()
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    dumps = sorted(glob.glob(f"{args.out}/callgrind.{worker.pid}.*"), key=lambda path: int(path.rsplit(".", 1)[1]))
    totals = {}
    for path in dumps:
        text = open(path).read()
        trigger = re.search(r"^desc: Trigger: dump scenario(\d+)$", text, re.M)
        total = re.search(r"^totals: (\d+)", text, re.M)
        if trigger and total:
            totals[int(trigger.group(1))] = int(total.group(1))
    print(f"callgrind, release build, {n} requests per scenario after 100 unmeasured, one connection")
    print("| scenario | instructions per request | unexpected |")
    print("|---|---:|---:|")
    failed = False
    for index, (name, unexpected) in enumerate(rows):
        if index not in totals:
            sys.exit(f"no callgrind dump for {name}")
        print(f"| {name} | {totals[index] / n:,.0f} | {unexpected} |")
        failed = failed or unexpected > 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
