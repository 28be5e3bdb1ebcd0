"""Waiting for logs instead of sleeping for them. nginx flushes its access log
every second (`flush=1s`) and each worker its own every 200 ms: a test that reads
a log polls for the line it expects, with a deadline. A test that checks what is
NOT in the logs first waits until every log holds a request made after the ones
under test: each log is written in order, so what came before is on disk.
Both logs are JSON lines (one object a line): `records` reads them."""
import json
import os
import pathlib
import time

from edge_client import get

# The markers' own source address (see edge_client): the per-address limits
# that the tests meet stay untouched.
MARKER_SOURCE = "127.0.0.90"


def wait_for_text(path, needle, timeout=10.0):
    """Polls `path` until it holds `needle`; returns its text. Fails after `timeout` seconds."""
    path = pathlib.Path(path)
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        if needle in text:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not in {path} after {timeout} s")
        time.sleep(0.05)


def records(path):
    """The JSON objects of a log, one a line; a line that is not one (a line
    still being written) is skipped."""
    path = pathlib.Path(path)
    text = path.read_text(errors="replace") if path.exists() else ""
    found = []
    # Split on newlines only: str.splitlines also splits on U+2028, U+0085 and
    # the like, which a JSON string may hold unescaped.
    for line in text.split("\n"):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


def wait_for_record(path, predicate, timeout=10.0):
    """Polls the log at `path` until one of its records satisfies `predicate`;
    returns that record. Fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        for record in records(path):
            if predicate(record):
                return record
        if time.monotonic() > deadline:
            raise AssertionError(f"no matching record in {path} after {timeout} s")
        time.sleep(0.05)


def live_workers(stack):
    """The indexes of the stack's workers whose process is running."""
    indexes = []
    for pid_file in (stack.var / "run").glob("worker-*.pid"):
        pid = stack.pid(pid_file.stem)
        if pid and os.path.exists(f"/proc/{pid}"):
            indexes.append(pid_file.stem.removeprefix("worker-"))
    return sorted(indexes)


def logs_caught_up(stack, timeout=15.0):
    """Returns once nginx's access log and the log of every running worker hold
    a health request made after this call: all that was logged before is on disk.
    nginx picks the worker, so this asks until each has answered one."""
    access = stack.var / "log" / "nginx-access.log"
    pending = {index: stack.var / "log" / f"worker-{index}.log" for index in live_workers(stack)}
    markers = []
    deadline = time.monotonic() + timeout
    while True:
        status, headers, _ = get(stack, "/v1/music/health", MARKER_SOURCE)
        if status == 200:  # a 429 never reached a worker
            markers.append(headers["X-Request-ID"])
        for index, path in list(pending.items()):
            if any(record.get("trace_id") in markers for record in records(path)):
                del pending[index]
        if not pending:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"no health request after {timeout} s in the logs of workers {sorted(pending)}")
        time.sleep(0.1)
    wait_for_record(access, lambda record: record.get("trace_id") == markers[-1],
                    timeout=max(1.0, deadline - time.monotonic()))
