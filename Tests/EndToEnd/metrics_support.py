"""Helpers of the metrics tests (test_metrics_*.py): the stack's internal listener
as deploy/lib.sh renders it, requests to it from a chosen source address, and
processes the tests start and stop by pid."""
import http.client
import os
import pathlib
import signal
import socket
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def lib_settings(env=None):
    """What deploy/lib.sh makes of the environment (one source for the tests):
    the internal listener's address, the threads per worker, and the workers
    behind the listener as (N, fastcgi address) pairs."""
    script = f'source "{ROOT}/deploy/lib.sh" && echo "$METRICS_LISTEN" && echo "$THREADS" && metrics_workers'
    lines = subprocess.run(["bash", "-c", script], env=env or dict(os.environ), capture_output=True, text=True,
                           check=True).stdout.splitlines()
    host, _, port = lines[0].rpartition(":")
    workers = [tuple(line.split(" ", 1)) for line in lines[2:]]
    return {"host": host or "127.0.0.1", "port": int(port), "threads": int(lines[1]), "workers": workers}


def internal_get(host, port, path, source="127.0.0.1", method="GET", timeout=5):
    """One request on a fresh connection to the internal listener: (status, headers, body)."""
    client = http.client.HTTPConnection(host, port, timeout=timeout, source_address=(source, 0))
    try:
        client.request(method, path)
        response = client.getresponse()
        return response.status, response.headers, response.read()
    finally:
        client.close()


def free_port(start, host=""):
    """A port at or above `start` (below the ephemeral range) that nothing listens on."""
    for port in range(start, start + 200):
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
                return port
            except OSError:
                continue
    raise AssertionError(f"no free port from {start}")


def stop_pid(pid, timeout=15.0):
    """SIGTERM to `pid`, then waits for it to end (SIGKILL after `timeout` seconds)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while pathlib.Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if pathlib.Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)


def wait_until(condition, timeout, what):
    """Polls `condition` (returns a true value when met) until `timeout` seconds; returns its value.
    `what` (a string, or a function giving one) explains a failure."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what() if callable(what) else what}: not after {timeout} s")
        time.sleep(0.1)
