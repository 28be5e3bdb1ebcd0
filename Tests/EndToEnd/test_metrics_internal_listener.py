"""nginx's internal listener (MUSIC_METRICS_LISTEN, nginx/music-internal.conf):
each worker's metrics and nginx's stub_status for loopback and MUSIC_METRICS_ALLOW,
the 404 envelope for everyone and everything else; the public ports never serve
/internal. The allow list is checked from a network namespace of the test's own,
against a second nginx rendered from the same templates and bound to the host
end of a veth pair, in front of the stack's own workers."""
import http.client
import json
import os
import pathlib
import re
import subprocess
import tempfile

import pytest

from edge_client import assert_envelope, call, connection, get, rendered, tls_connection
from log_wait import logs_caught_up
from metrics_support import ROOT, free_port, internal_get, lib_settings, stop_pid, wait_until

STUB_STATUS = re.compile(r"^Active connections: \d+ \nserver accepts handled requests\n \d+ \d+ \d+ \n"
                         r"Reading: \d+ Writing: \d+ Waiting: \d+ \n$")


@pytest.fixture(scope="module")
def internal(stack):
    return lib_settings()


def test_loopback_reads_stub_status_and_every_workers_metrics(internal):
    assert internal["workers"], "the stack has no worker behind the internal listener"
    # Any loopback source address, not only 127.0.0.1.
    for source in ["127.0.0.1", "127.0.0.63"]:
        status, headers, body = internal_get(internal["host"], internal["port"], "/internal/nginx_status", source)
        assert status == 200 and STUB_STATUS.match(body.decode()), (status, body[:300])
        for index, _ in internal["workers"]:
            status, headers, body = internal_get(internal["host"], internal["port"], f"/internal/metrics/worker-{index}",
                                                 source)
            assert status == 200, (index, status, body[:300])
            assert headers["Content-Type"].startswith("text/plain"), headers
            assert re.search(rb"^music_worker_threads(\{[^}]*\})? \d", body, re.M), body[:500]


def requests_read(internal, index):
    """music_worker_requests_total of worker `index`, read through the internal listener."""
    status, _, body = internal_get(internal["host"], internal["port"], f"/internal/metrics/worker-{index}")
    assert status == 200, body[:300]
    return float(re.search(rb"^music_worker_requests_total(?:\{[^}]*\})? (\S+)$", body, re.M).group(1))


def test_each_workers_location_reaches_that_worker(stack, internal):
    # Which worker served each request is in the workers' logs (its trace id);
    # each location's count of requests read must have moved by what that worker
    # served. Requests are added until the workers served different numbers, so
    # that two locations reaching one worker cannot pass.
    indexes = [index for index, _ in internal["workers"]]
    before = {index: requests_read(internal, index) for index in indexes}
    # Not health: the workers' health lanes answer it, outside the worker loop's figures.
    path = "/v1/music/openapi.yaml"
    trace_ids = [get(stack, path, "127.0.0.66")[1]["X-Request-ID"] for _ in range(24)]

    def served():
        logs = {index: (stack.var / "log" / f"worker-{index}.log").read_text(errors="replace") for index in indexes}
        counts = {index: float(sum(1 for trace in trace_ids if trace in logs[index])) for index in indexes}
        return counts if sum(counts.values()) == len(trace_ids) else None

    for _ in range(20):
        counts = wait_until(served, 10, "every request in a worker's log")
        if len(set(counts.values())) == len(indexes):
            break
        trace_ids.append(get(stack, path, "127.0.0.66")[1]["X-Request-ID"])
    assert len(set(counts.values())) == len(indexes), counts
    after = {index: requests_read(internal, index) for index in indexes}
    assert {index: after[index] - before[index] for index in indexes} == counts


def test_other_paths_methods_and_workers_get_the_404_envelope(internal):
    workers = len(internal["workers"])
    for path in ["/", "/internal", "/internal/", "/internal/metrics", f"/internal/metrics/worker-{workers + 1}",
                 "/internal/metrics/worker-0", "/internal/nginx_status/x", "/internal/nginx_statusx",
                 "/v1/music/health", "/__music_error/404", "/internal/metrics/worker-1/", "/internal/metrics/worker-01"]:
        status, headers, body = internal_get(internal["host"], internal["port"], path, "127.0.0.63")
        assert_envelope(status, headers, body, "RESOURCE_NOT_FOUND")
    for method in ["POST", "DELETE", "PUT"]:
        for path in ["/internal/nginx_status", "/internal/metrics/worker-1"]:
            status, headers, body = internal_get(internal["host"], internal["port"], path, "127.0.0.63", method)
            assert_envelope(status, headers, body, "RESOURCE_NOT_FOUND")


def test_a_scrape_every_few_milliseconds_meets_no_rate_limit(stack, internal):
    # More requests at once from one address than the per-address burst the
    # public ports allow (read from the stack's rendered configuration).
    count = rendered(stack, r"zone=music_per_address burst=(\d+)") + 250
    client = connection_to(internal, "127.0.0.64")
    statuses = [call(client, "GET", "/internal/nginx_status")[0] for _ in range(count)]
    client.close()
    assert statuses == [200] * count, sorted(set(statuses))


def connection_to(internal, source):
    return http.client.HTTPConnection(internal["host"], internal["port"], timeout=5, source_address=(source, 0))


def test_the_public_ports_answer_internal_paths_with_the_404_envelope_from_nginx(stack, internal):
    paths = ["/internal/nginx_status", "/internal/metrics/worker-1", "/%69nternal/nginx_status", "/internal",
             "/internal/metrics/worker-1/"]
    trace_ids = []
    for client in [connection(stack, "127.0.0.65"), tls_connection(stack, "127.0.0.65")]:
        for path in paths:
            status, headers, body = call(client, "GET", path)
            assert_envelope(status, headers, body, "RESOURCE_NOT_FOUND")
            assert b"Active connections" not in body and b"music_worker" not in body
            trace_ids.append(headers["X-Request-ID"])
        client.close()
    # Answered by nginx itself: no worker ever saw these requests.
    logs_caught_up(stack)
    for log in (stack.var / "log").glob("worker-*.log"):
        text = log.read_text(errors="replace")
        assert not [trace for trace in trace_ids if trace in text], log


# --- The allow list, from a network namespace ---

@pytest.fixture
def veth_namespace():
    """A namespace of this test's own joined to the host by a veth pair:
    (host address, [namespace addresses], namespace name). Removed afterwards,
    whatever happens."""
    suffix = f"{os.getpid() % 100000}"
    name, host_link = f"music-metrics-{suffix}", f"mm{suffix}h"
    # A /29 of 10.0.0.0/8 that nothing on the host uses yet: the host end .1,
    # two addresses inside the namespace.
    used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    third = next(n for n in range(40, 250) if f" 10.233.{n}." not in used)
    prefix = f"10.233.{third}"
    host, inside = f"{prefix}.1", [f"{prefix}.2", f"{prefix}.3"]
    try:
        subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(["ip", "link", "add", host_link, "type", "veth", "peer", "name", "eth0", "netns", name],
                       check=True)
        subprocess.run(["ip", "addr", "add", f"{host}/29", "dev", host_link], check=True)
        subprocess.run(["ip", "link", "set", host_link, "up"], check=True)
        for address in inside:
            subprocess.run(["ip", "-n", name, "addr", "add", f"{address}/29", "dev", "eth0"], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "eth0", "up"], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield host, inside, name
    finally:
        subprocess.run(["ip", "link", "delete", host_link], capture_output=True)
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


@pytest.fixture
def internal_nginx(stack, veth_namespace):
    """Starts nginx rendered with the stack's settings, its internal listener on
    the host end of the veth pair and MUSIC_METRICS_ALLOW as given: start(allow)
    returns the listener's (host, port). Stopped by its pid afterwards."""
    host, _, _ = veth_namespace
    folder = pathlib.Path(tempfile.mkdtemp(prefix="music-metrics-", dir="/tmp"))
    folder.chmod(0o755)
    started = []

    def start(allow):
        var = folder / f"var-{len(started)}"
        http = free_port(int(os.environ["MUSIC_HTTP_PORT"]) + 300)
        https = free_port(http + 1)
        port = free_port(http + 2, host)
        env = dict(os.environ, MUSIC_VAR_DIR=str(var), MUSIC_HTTP_PORT=str(http), MUSIC_HTTPS_PORT=str(https),
                   MUSIC_METRICS_LISTEN=f"{host}:{port}", MUSIC_METRICS_ALLOW=allow,
                   MUSIC_TLS_CERT=stack.cert, MUSIC_TLS_KEY=str(stack.var / "tls" / "key.pem"))
        subprocess.run(["bash", "-c", f"source {ROOT}/deploy/lib.sh && prepare_dirs && ensure_tls && render_nginx && start_nginx"],
                       env=env, check=True, capture_output=True, text=True)
        started.append(int((var / "run" / "nginx.pid").read_text()))
        return host, port

    try:
        yield start
    finally:
        for pid in started:
            stop_pid(pid)
        subprocess.run(["rm", "-rf", str(folder)], check=True)


def from_namespace(namespace, source, url):
    """curl inside the namespace from `source`: (status, headers text, body)."""
    result = subprocess.run(["ip", "netns", "exec", namespace, "curl", "-s", "-m", "5", "--interface", source,
                             "-i", "-w", "\n%{http_code}", url],
                            capture_output=True, text=True, check=True)
    text, _, status = result.stdout.rpartition("\n")
    # (Text mode: the header lines' CRLF arrive as LF.)
    headers, _, body = text.partition("\n\n")
    return int(status), headers, body


def assert_404_envelope(status, headers, body):
    assert status == 404, (status, body[:300])
    assert "content-type: application/json" in headers.lower()
    error = json.loads(body)["error"]
    assert (error["status"], error["code"]) == (404, "RESOURCE_NOT_FOUND"), error


def test_an_address_outside_the_allow_list_gets_the_404_envelope_and_one_inside_gets_through(
        stack, veth_namespace, internal_nginx):
    host, (allowed, other), namespace = veth_namespace
    workers = lib_settings()["workers"]
    paths = ["/internal/nginx_status"] + [f"/internal/metrics/worker-{index}" for index, _ in workers]

    # Without an allow list: loopback only, so both namespace addresses are refused.
    listen_host, port = internal_nginx("")
    for source in [allowed, other]:
        for path in paths:
            assert_404_envelope(*from_namespace(namespace, source, f"http://{listen_host}:{port}{path}"))

    # With one of them allowed (a comma-separated list with a CIDR that covers
    # neither namespace address): that one gets through, the other still not.
    listen_host, port = internal_nginx(f"{allowed}, 192.168.254.0/24")
    for path in paths:
        status, _, body = from_namespace(namespace, allowed, f"http://{listen_host}:{port}{path}")
        assert status == 200, (path, body[:300])
        assert ("Active connections" in body) if path.endswith("nginx_status") else ("music_worker_threads" in body)
        assert_404_envelope(*from_namespace(namespace, other, f"http://{listen_host}:{port}{path}"))
    # Allowed or not, only those paths are served.
    assert_404_envelope(*from_namespace(namespace, allowed, f"http://{listen_host}:{port}/v1/music/health"))


def test_a_cidr_in_the_allow_list_admits_its_addresses(stack, veth_namespace, internal_nginx):
    host, inside, namespace = veth_namespace
    listen_host, port = internal_nginx(f"{host.rsplit('.', 1)[0]}.0/29")
    for source in inside:
        status, _, body = from_namespace(namespace, source, f"http://{listen_host}:{port}/internal/nginx_status")
        assert status == 200 and "Active connections" in body, (source, status, body[:300])
