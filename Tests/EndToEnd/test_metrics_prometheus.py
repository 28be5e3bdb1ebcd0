"""A real Prometheus (Debian's package) scrapes the stack on the configuration
deploy/render-prometheus writes (a scrape a second, one target per worker
through nginx's internal listener): every target is up, and after a known mix of
requests the request counters, the latency histogram and the thread gauges, read
through Prometheus's HTTP API, say what was sent. Prometheus runs on a port and
a storage folder (in the stack's var/) of its own, started and stopped by its pid;
the package's own service, if any, is left alone (it listens on 9090)."""
import concurrent.futures
import http.client
import shutil
import subprocess
import time

import pytest
import requests

from edge_client import own_key
from metrics_support import ROOT, free_port, lib_settings, wait_until

LIST_ROUTE = "/v1/music/{organization_id}/collections"
HEALTH_ROUTE = "/v1/music/health"
# How many of each request the mix sends (distinct, so a count cannot be
# mistaken for another).
SENT = {"list": 37, "health": 23, "unmatched": 11}
SOURCE = "127.0.0.82"


class Prometheus:
    def __init__(self, url, settings):
        self.url = url
        self.workers = sorted(index for index, _ in settings["workers"])
        self.threads = settings["threads"]

    def query(self, expression):
        """An instant query: {frozenset of labels: value}."""
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expression}, timeout=5).json()
        assert answer["status"] == "success", answer
        return {frozenset(series["metric"].items()): float(series["value"][1]) for series in answer["data"]["result"]}

    def total(self, expression):
        """The sum of an instant query's values (0 when it has no series yet)."""
        return sum(self.query(expression).values())

    def per_worker(self, expression):
        return {dict(labels).get("worker"): value for labels, value in self.query(expression).items()}

    def targets(self):
        return requests.get(f"{self.url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]

    def all_up(self):
        targets = [target for target in self.targets() if target["labels"]["job"] == "music-workers"]
        return (sorted(target["labels"]["worker"] for target in targets) == self.workers
                and all(target["health"] == "up" for target in targets))

    def scraped_since(self, moment):
        """Every worker has been scraped after `moment` (seconds since the epoch)."""
        stamps = self.per_worker('timestamp(up{job="music-workers"})')
        return sorted(stamps) == self.workers and all(stamp > moment for stamp in stamps.values())


@pytest.fixture(scope="module")
def prometheus(stack):
    settings = lib_settings()
    folder = stack.var / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    config = folder / "prometheus.yml"
    subprocess.run([str(ROOT / "deploy" / "render-prometheus"), "--interval", "1", str(config)],
                   check=True, capture_output=True, text=True)
    checked = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    port = free_port(settings["port"] + 10)
    with open(folder / "prometheus.log", "w") as log:
        process = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
                                    f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        server = Prometheus(f"http://127.0.0.1:{port}", settings)

        def ready():
            assert process.poll() is None, (folder / "prometheus.log").read_text()[-3000:]
            try:
                return requests.get(f"{server.url}/-/ready", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(ready, 60, "Prometheus ready")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def test_every_worker_is_a_target_and_up(prometheus):
    # Targets appear after the first discovery round (about 5 s).
    wait_until(prometheus.all_up, 30, lambda: f"every worker's target up ({prometheus.targets()})")
    up = prometheus.per_worker('up{job="music-workers"}')
    assert up == {worker: 1.0 for worker in prometheus.workers}
    # Each target answers with that worker's own numbers.
    assert sorted(prometheus.per_worker('music_worker_threads{job="music-workers"}')) == prometheus.workers


def send_the_mix(stack, key):
    """The mix, over 4 kept-alive connections: list and unmatched with a key, health without."""
    jobs = ([("list", f"/v1/music/{stack.org}/collections?limit=5", {"X-API-Key": key}, 200)] * SENT["list"]
            + [("health", "/v1/music/health", {}, 200)] * SENT["health"]
            + [("unmatched", f"/v1/music/{stack.org}/no-such-route", {"X-API-Key": key}, 404)] * SENT["unmatched"])
    port = int(stack.http.rsplit(":", 1)[1])

    def lane(number):
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(SOURCE, 0))
        statuses = []
        for kind, path, headers, expected in jobs[number::4]:
            client.request("GET", path, headers=headers)
            response = client.getresponse()
            response.read()
            statuses.append((kind, response.status, expected))
        client.close()
        return statuses

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = [answer for lane_answers in pool.map(lane, range(4)) for answer in lane_answers]
    wrong = [answer for answer in answers if answer[1] != answer[2]]
    assert not wrong, wrong


def moved_by_the_mix(stack, prometheus, expressions):
    """Sends the mix; returns how far each of `expressions` (summed) moved, from a
    scrape of every worker taken after all earlier requests were answered to one
    taken after the mix."""
    key = own_key(stack)
    wait_until(prometheus.all_up, 30, lambda: f"every worker's target up ({prometheus.targets()})")
    quiet = time.time()
    wait_until(lambda: prometheus.scraped_since(quiet + 0.1), 15, "a scrape of every worker after the quiet moment")
    before = {name: prometheus.total(expression) for name, expression in expressions.items()}
    send_the_mix(stack, key)
    sent_at = time.time()
    wait_until(lambda: prometheus.scraped_since(sent_at + 0.1), 15, "a scrape of every worker after the mix")
    return {name: prometheus.total(expression) - before[name] for name, expression in expressions.items()}


def test_the_worker_loop_counters_and_thread_gauges_move_by_what_was_sent(stack, prometheus):
    moved = moved_by_the_mix(stack, prometheus, {
        "requests_read": 'sum(music_worker_requests_total{job="music-workers"})',
    })
    # Health is read by each worker's health lane, outside the worker loop's figures.
    assert moved == {"requests_read": sum(SENT.values()) - SENT["health"]}
    # Every worker reports the configured threads, and each worker that served
    # part of the mix saw at least one thread busy.
    assert prometheus.per_worker('music_worker_threads{job="music-workers"}') == \
        {worker: float(prometheus.threads) for worker in prometheus.workers}
    busy_max = prometheus.per_worker('music_worker_threads_busy_max{job="music-workers"}')
    assert sorted(busy_max) == prometheus.workers
    served = prometheus.per_worker('sum by (worker) (increase(music_worker_requests_total{job="music-workers"}[1m]))')
    assert any(value > 0 for value in served.values()), served
    for worker, value in served.items():
        if value > 0:
            assert 1 <= busy_max[worker] <= prometheus.threads, (worker, busy_max)


def test_the_request_counters_and_latency_histogram_move_by_what_was_sent(stack, prometheus):
    moved = moved_by_the_mix(stack, prometheus, {
        "list": f'sum(music_http_requests_total{{route="{LIST_ROUTE}",method="GET",status_class="2xx"}})',
        "health": f'sum(music_http_requests_total{{route="{HEALTH_ROUTE}",method="GET",status_class="2xx"}})',
        # (An unmatched request's method is counted as "other": no label value per method sent.)
        "unmatched": 'sum(music_http_requests_total{route="unmatched",status_class="4xx"})',
        "all_routes": 'sum(music_http_requests_total{job="music-workers"})',
        "list_histogram_count": f'sum(music_http_request_duration_seconds_count{{route="{LIST_ROUTE}",method="GET"}})',
        "list_histogram_inf": f'sum(music_http_request_duration_seconds_bucket{{route="{LIST_ROUTE}",method="GET",le="+Inf"}})',
        "list_histogram_sum": f'sum(music_http_request_duration_seconds_sum{{route="{LIST_ROUTE}",method="GET"}})',
    })
    assert moved.pop("list_histogram_sum") > 0
    assert moved == {"list": SENT["list"], "health": SENT["health"], "unmatched": SENT["unmatched"],
                     "all_routes": sum(SENT.values()), "list_histogram_count": SENT["list"],
                     "list_histogram_inf": SENT["list"]}
    # The histogram has the contract's buckets (seconds).
    buckets = {float(dict(labels)["le"]) for labels in prometheus.query(
        f'music_http_request_duration_seconds_bucket{{route="{LIST_ROUTE}",method="GET"}}')}
    assert {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf")} == buckets, \
        sorted(buckets)
