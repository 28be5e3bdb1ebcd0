"""A share token never reaches a log: nginx writes the raw request line into its
error log with every "limiting requests" and every upstream error, so the
shared-view location keeps those messages out (the access log masks the token).
The 429s come from the stack; the 502s from a second nginx rendered from the same
templates (deploy/lib.sh's render_nginx) whose only upstream refuses connections,
so the stack's workers keep running."""
import http.client
import os
import pathlib
import random
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

from edge_client import assert_envelope, call, connection, own_key
from log_wait import logs_caught_up, records, wait_for_record

ROOT = pathlib.Path(__file__).resolve().parents[2]


def token_in_logs(var, token):
    return [str(path) for path in (var / "log").iterdir() if token in path.read_text(errors="replace")]


def free_port(start):
    """A port at or above `start` (below the ephemeral range) that nothing listens on."""
    for port in range(start, start + 200):
        with socket.socket() as probe:
            try:
                probe.bind(("", port))
                return port
            except OSError:
                continue
    raise AssertionError(f"no free port from {start}")


@pytest.fixture
def dead_upstream_nginx(stack):
    """nginx with the stack's configuration whose upstream is a socket nobody
    listens on: every request that reaches the upstream is refused (a 502)."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="music-edge-", dir="/tmp"))
    folder.chmod(0o755)  # nginx's workers (www-data) reach the socket and temp files
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(folder / "dead.sock"))  # bound, never listening: connections are refused
    os.chmod(folder / "dead.sock", 0o666)
    base = int(os.environ["MUSIC_HTTP_PORT"]) + 100
    http = free_port(base)
    env = dict(os.environ, MUSIC_VAR_DIR=str(folder / "var"), MUSIC_RUN_DIR=str(folder / "run"),
               MUSIC_HTTP_PORT=str(http), MUSIC_HTTPS_PORT=str(free_port(http + 1)),
               MUSIC_UPSTREAMS=f"server unix:{folder}/dead.sock max_fails=0;", MUSIC_METRICS_LISTEN="off",
               MUSIC_TLS_CERT=stack.cert, MUSIC_TLS_KEY=str(stack.var / "tls" / "key.pem"))
    subprocess.run(["bash", "-c", f"source {ROOT}/deploy/lib.sh && prepare_dirs && ensure_tls && render_nginx && start_nginx"],
                   env=env, check=True, capture_output=True, text=True)
    var = folder / "var"
    try:
        yield http, var
    finally:
        pid = int((var / "run" / "nginx.pid").read_text())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and pathlib.Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        dead.close()
        subprocess.run(["rm", "-rf", str(folder)], check=True)


def test_rate_limited_shared_views_leave_no_token_in_the_logs(stack):
    key = {"X-API-Key": own_key(stack)}
    created = requests.post(f"{stack.api}/collections", headers=key, json={"name": "Popular link"}, verify=stack.cert).json()
    token = requests.post(f"{stack.api}/collections/{created['id']}/share", headers=key, json={"visibility": "public"},
                          verify=stack.cert).json()["token"]
    client = connection(stack, "127.0.0.71")
    statuses = [call(client, "GET", f"/v1/music/shared/{token}")[0] for _ in range(100)]
    client.close()
    assert 200 in statuses and 429 in statuses, statuses
    logs_caught_up(stack)
    assert token_in_logs(stack.var, token) == []
    assert any(record["client"] == "127.0.0.71" and record["method"] == "GET" and record["status"] == 429
               and record["path"] == "/v1/music/shared/[token]" for record in records(stack.var / "log" / "nginx-access.log"))


def test_upstream_errors_on_shared_views_leave_no_token_in_the_logs(stack, dead_upstream_nginx):
    port, var = dead_upstream_nginx
    token = "".join(random.Random(72).choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
                    for _ in range(43))
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=("127.0.0.72", 0))
    answers = [call(client, "GET", f"/v1/music/shared/{token}") for _ in range(60)]
    client.close()
    statuses = [status for status, _, _ in answers]
    assert 502 in statuses and 429 in statuses, statuses
    status, headers, body = next(answer for answer in answers if answer[0] == 502)
    assert_envelope(status, headers, body, "SERVICE_UNAVAILABLE")
    # The same failure on another path is still explained in the error log.
    assert call(http.client.HTTPConnection("127.0.0.1", port, timeout=10), "GET", "/v1/music/health")[0] == 502
    # The access log is flushed every second: wait for the last request's line.
    wait_for_record(var / "log" / "nginx-access.log",
                    lambda record: record["path"] == "/v1/music/health" and record["status"] == 502)
    error_log = (var / "log" / "nginx-error.log").read_text()
    assert "Connection refused) while connecting to upstream" in error_log and "/v1/music/health" in error_log
    assert token_in_logs(var, token) == []
    assert any(record["path"] == "/v1/music/shared/[token]" for record in records(var / "log" / "nginx-access.log"))
