"""deploy/status: its Prometheus text parser and histogram quantile (on a scrape
captured from a real worker, data/worker-metrics.prom, and on cases worked out
by hand), then the view of the live stack deploy/test runs: every worker with
its threads, the requests this test sent, and a worker that does not answer
shown DOWN within the fetch timeout."""
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "kit"))
import status  # noqa: E402

SAMPLE = Path(__file__).parent / "data" / "worker-metrics.prom"


# --- The parser and the quantile ---

def test_parser_reads_labels_escapes_special_values_and_timestamps():
    text = "\n".join([
        "# HELP music_http_requests_total Requests answered, by route template, method and status class.",
        "# TYPE music_http_requests_total counter",
        'music_http_requests_total{route="/v1/music/{organization_id}/collections",method="GET",status_class="2xx"} 17',
        'music_http_requests_total{route="a \\"quoted\\" \\\\ path\\n",method="POST",status_class="5xx",} 2 1764600000000',
        "# a comment line",
        "music_worker_threads 64",
        "odd_gauge NaN",
        'music_x_bucket{le="+Inf"} +Inf',
        "music_y -Inf",
        "music_z 1.5e-3",
        "",
    ])
    samples, types = status.parse_exposition(text)
    assert types == {"music_http_requests_total": "counter"}
    assert samples[0] == ("music_http_requests_total",
                          {"route": "/v1/music/{organization_id}/collections", "method": "GET", "status_class": "2xx"}, 17.0)
    assert samples[1] == ("music_http_requests_total",
                          {"route": 'a "quoted" \\ path\n', "method": "POST", "status_class": "5xx"}, 2.0)
    assert samples[2] == ("music_worker_threads", {}, 64.0)
    assert math.isnan(samples[3][2])
    assert samples[4][2] == math.inf and samples[5][2] == -math.inf and samples[6][2] == 0.0015
    metrics = status.Metrics(text)
    assert metrics.total("music_http_requests_total") == 19
    assert metrics.total("music_http_requests_total", status_class="5xx") == 2
    assert metrics.total("music_absent") is None


@pytest.mark.parametrize("line", ['x{a="1"', 'x{a=1} 2', 'x{a="\\q"} 1', "x", "x 1 2 3", 'x{1a="b"} 1', "x one"])
def test_parser_refuses_malformed_lines(line):
    with pytest.raises(status.ParseError):
        status.parse_exposition(line)


def test_histogram_quantile_as_prometheus_computes_it():
    # The cases of deploy/prometheus/alerts_test.yml, where promtool gives the values.
    assert status.histogram_quantile(0.99, {0.1: 980, 0.5: 985, 1: 1000, math.inf: 1000}) == pytest.approx(0.5 + 0.5 * 5 / 15)
    assert status.histogram_quantile(0.99, {0.05: 180, 0.1: 196, 0.25: 200, math.inf: 200}) == pytest.approx(0.175)
    # The lowest bucket starts at 0; a rank in +Inf gives the highest finite bound.
    assert status.histogram_quantile(0.5, {0.01: 10, math.inf: 10}) == pytest.approx(0.005)
    assert status.histogram_quantile(0.99, {0.01: 10, 0.1: 10, math.inf: 20}) == 0.1
    # Nothing observed, or no +Inf bucket: NaN, as Prometheus.
    assert math.isnan(status.histogram_quantile(0.5, {0.1: 0, math.inf: 0}))
    assert math.isnan(status.histogram_quantile(0.5, {0.1: 3, 1: 4}))
    # Cumulative counts that fall (a torn read) are taken as the highest so far.
    assert status.histogram_quantile(0.5, {0.1: 6, 0.5: 5, math.inf: 10}) == pytest.approx(0.1 * 5 / 6)


def test_bucket_and_counter_deltas_survive_a_restarted_worker():
    assert status.counter_delta(10, 25) == 15
    assert status.counter_delta(10, 4) == 4  # reset: the new process counted 4
    assert status.bucket_delta({0.1: 5, math.inf: 8}, {0.1: 7, math.inf: 12}) == {0.1: 2, math.inf: 4}
    assert status.bucket_delta({0.1: 5, math.inf: 8}, {0.1: 1, math.inf: 2}) == {0.1: 1, math.inf: 2}


def bucket_holding(rank, buckets):
    """(lower, upper) bound of the bucket where the rank-th observation is, counted plainly."""
    lower = 0.0
    for bound in sorted(buckets):
        if buckets[bound] >= rank:
            return lower, bound
        lower = bound
    raise AssertionError("rank beyond the +Inf bucket")


def test_a_real_worker_scrape_parses_with_every_family_of_the_contract():
    metrics = status.Metrics(SAMPLE.read_text())
    for name, kind in [("music_worker_threads", "gauge"), ("music_worker_threads_busy", "gauge"),
                       ("music_worker_threads_keepalive", "gauge"), ("music_worker_saturated_total", "counter"),
                       ("music_http_requests_total", "counter"),
                       ("music_http_request_duration_seconds", "histogram"),
                       ("music_write_commit_duration_seconds", "histogram"),
                       ("process_resident_memory_bytes", "gauge"), ("process_start_time_seconds", "gauge")]:
        assert metrics.types.get(name) == kind, name
    assert metrics.total("music_worker_threads") > 0
    for family in ("music_http_request_duration_seconds", "music_write_commit_duration_seconds"):
        buckets = metrics.buckets(family)
        assert math.inf in buckets and buckets[math.inf] == metrics.total(family + "_count") > 0
        for q in (0.5, 0.9, 0.99):
            lower, upper = bucket_holding(q * buckets[math.inf], buckets)
            value = status.histogram_quantile(q, buckets)
            assert lower <= value <= (upper if upper != math.inf else lower), (family, q, value)
        assert status.histogram_quantile(0.5, buckets) <= status.histogram_quantile(0.99, buckets)


# --- The live stack ---

@pytest.fixture(scope="module")
def settings():
    """The stack's settings as deploy/status reads them: from deploy/lib.sh."""
    result = subprocess.run(
        ["bash", "-c", 'source "$1/deploy/lib.sh" && printf "%s %s %s" "$METRICS_LISTEN" "$WORKERS" "$THREADS"',
         "settings", str(ROOT)], capture_output=True, text=True, check=True, timeout=30)
    listen, workers, threads = result.stdout.split()
    return {"listen": listen, "workers": int(workers), "threads": int(threads)}


def run_status(*arguments, timeout=60):
    return subprocess.run([str(ROOT / "deploy" / "status"), *arguments],
                          capture_output=True, text=True, timeout=timeout)


def worker_lines(text):
    """The worker rows of a view: {worker number: its fields}."""
    rows = {}
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0].isdigit():
            rows[int(fields[0])] = fields[1:]
    return rows


def test_the_view_counts_exactly_the_requests_sent(stack, settings):
    address = status.listener_address(settings["listen"])
    numbers = status.discover_workers(address, status.FETCH_TIMEOUT)
    assert len(numbers) == settings["workers"]
    sent = 40
    with status.concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        before = status.take_snapshot(address, numbers, status.FETCH_TIMEOUT, pool)
        with requests.Session() as session:
            for _ in range(sent - 2):
                assert session.get(f"{stack.api}/collections", headers={"X-API-Key": stack.key},
                                   verify=stack.cert, timeout=10).status_code == 200
            created = session.post(f"{stack.api}/collections", headers={"X-API-Key": stack.key}, verify=stack.cert,
                                   json={"name": "deploy/status test"}, timeout=10)
            assert created.status_code == 201
            assert session.delete(f"{stack.api}/collections/{created.json()['id']}", headers={"X-API-Key": stack.key},
                                  verify=stack.cert, timeout=10).status_code == 200
        after = status.take_snapshot(address, numbers, status.FETCH_TIMEOUT, pool)
    view = status.build_view(before, after)
    assert [row["up"] for row in view["workers"]] == [True] * settings["workers"]
    assert [row["threads"] for row in view["workers"]] == [settings["threads"]] * settings["workers"]
    assert view["total"]["requests"] == sent
    assert view["total"]["requests_per_s"] > 0
    assert view["total"]["errors_4xx"] == 0 and view["total"]["errors_5xx"] == 0
    assert 0 < view["total"]["p50"] <= view["total"]["p99"]
    assert view["total"]["commit_p99"] > 0  # the create and the delete committed
    assert view["nginx"]["requests_per_s"] > 0 and view["nginx"]["active"] >= 1
    text = status.render(view, settings["listen"])
    assert f"workers: {settings['workers']} of {settings['workers']} up" in text
    rows = worker_lines(text)
    assert sorted(rows) == numbers
    for fields in rows.values():
        assert fields[0].endswith(f"/{settings['threads']}")


def test_deploy_status_shows_every_worker_and_a_request_rate_under_traffic(stack, settings):
    done = threading.Event()
    sent = [0]

    def traffic():
        with requests.Session() as session:
            deadline = time.monotonic() + 60
            while not done.is_set() and time.monotonic() < deadline:
                session.get(f"{stack.api}/collections", headers={"X-API-Key": stack.key}, verify=stack.cert, timeout=10)
                sent[0] += 1
                time.sleep(0.05)  # about 20/s: under the stack's per-key limit

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        result = run_status("--once", "--interval", "2")
    finally:
        done.set()
        sender.join(timeout=30)
    assert result.returncode == 0, result.stderr
    assert sent[0] > 0
    rows = worker_lines(result.stdout)
    assert len(rows) == settings["workers"], result.stdout
    total = next(line.split() for line in result.stdout.splitlines() if line.split()[:1] == ["all"])
    header = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["worker"])
    assert float(total[header.split().index("req/s")]) > 0, result.stdout
    for fields in rows.values():
        assert fields[0].endswith(f"/{settings['threads']}"), result.stdout
    assert "nginx: " in result.stdout and "requests/s" in result.stdout


def test_a_worker_that_does_not_answer_is_shown_down_within_the_timeout(stack, settings):
    if settings["workers"] < 2:
        pytest.skip("needs two workers")
    pid = stack.pid("worker-1")
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        result = run_status("--once", "--interval", "0.5", "--timeout", "1", timeout=30)
        elapsed = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert result.returncode == 0, result.stderr
    rows = worker_lines(result.stdout)
    assert len(rows) == settings["workers"], result.stdout
    down = [number for number, fields in rows.items() if fields[0] == "DOWN"]
    assert len(down) == 1, result.stdout
    assert f"workers: {settings['workers'] - 1} of {settings['workers']} up" in result.stdout
    # Discovery, then two scrapes: each meets the stopped worker once, for at most
    # the 1 s timeout (the scrapes are in parallel), plus the interval.
    assert elapsed < 6, elapsed


def test_watch_refreshes_until_interrupted(stack, settings):
    process = subprocess.Popen([str(ROOT / "deploy" / "status"), "--watch", "--interval", "0.5"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    views = []

    def read():
        for line in process.stdout:
            if line.startswith("music-collections on "):
                views.append(line)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while len(views) < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        assert len(views) >= 3, process.stderr.read() if process.poll() is not None else "fewer than 3 views in 30 s"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            reader.join(timeout=10)
    assert process.returncode == 0
    assert "Traceback" not in process.stderr.read()


def test_deploy_status_without_a_listener_says_so():
    result = subprocess.run([str(ROOT / "deploy" / "status"), "--once"], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "MUSIC_METRICS_LISTEN": "127.0.0.1:1"})
    assert result.returncode == 1
    assert "does not answer" in result.stderr and "Traceback" not in result.stderr
