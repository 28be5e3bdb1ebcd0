"""deploy/status: a terminal view of a running stack, for a person.

Reads the same metrics Prometheus scrapes, through nginx's internal listener
(MUSIC_METRICS_LISTEN): /internal/metrics/worker-N for each worker and
/internal/nginx_status for nginx. Rates and percentiles come from the difference
between two scrapes `--interval` seconds apart (p50/p99 from the histogram
buckets' deltas, as Prometheus's histogram_quantile does), so they describe
those seconds, not the time since start. See `deploy/status --help`.
"""
import argparse
import concurrent.futures
import http.client
import math
import re
import sys
import time

# What one fetch may take, connecting and reading the whole answer: a worker
# that hangs is shown DOWN after this, never holds the view.
FETCH_TIMEOUT = 2.0
# More than any exposition a worker writes; a larger answer is refused.
MAX_ANSWER = 4 << 20
# Workers probed for at most (worker-N answering 404 ends the list earlier).
MAX_WORKERS = 256
EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE = 0, 1, 2


# --- Prometheus text exposition format 0.0.4 ---

class ParseError(ValueError):
    pass


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


def _parse_labels(line, at):
    """Parses `{name="value",...}` starting at line[at] == '{'; returns (labels, index after '}')."""
    labels = {}
    at += 1
    while True:
        while at < len(line) and line[at] in " \t":
            at += 1
        if at < len(line) and line[at] == "}":
            return labels, at + 1
        match = _LABEL_NAME.match(line, at)
        if not match:
            raise ParseError(f"bad label name at column {at}: {line!r}")
        name = match.group()
        at = match.end()
        while at < len(line) and line[at] in " \t":
            at += 1
        if line[at:at + 2] != '="':
            raise ParseError(f"expected =\" after {name}: {line!r}")
        at += 2
        value = []
        while True:
            if at >= len(line):
                raise ParseError(f"unterminated label value: {line!r}")
            char = line[at]
            if char == "\\":
                escaped = line[at + 1:at + 2]
                if escaped not in _ESCAPES:
                    raise ParseError(f"bad escape \\{escaped} in {line!r}")
                value.append(_ESCAPES[escaped])
                at += 2
            elif char == '"':
                at += 1
                break
            else:
                value.append(char)
                at += 1
        labels[name] = "".join(value)
        while at < len(line) and line[at] in " \t":
            at += 1
        if at < len(line) and line[at] == ",":
            at += 1
        elif at < len(line) and line[at] == "}":
            return labels, at + 1
        else:
            raise ParseError(f"expected , or }} after label {name}: {line!r}")


def parse_exposition(text):
    """Prometheus text format -> (samples, types): samples is a list of
    (name, labels dict, float value); types maps a metric family to its TYPE."""
    samples, types = [], {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3].strip()
            continue
        match = _NAME.match(line)
        if not match:
            raise ParseError(f"line {number}: no metric name: {raw!r}")
        name, at = match.group(), match.end()
        labels = {}
        if at < len(line) and line[at] == "{":
            labels, at = _parse_labels(line, at)
        fields = line[at:].split()
        if not fields or len(fields) > 2:
            raise ParseError(f"line {number}: expected a value (and a timestamp): {raw!r}")
        try:
            value = float(fields[0])  # also NaN, +Inf, -Inf
        except ValueError:
            raise ParseError(f"line {number}: bad value {fields[0]!r}") from None
        samples.append((name, labels, value))
    return samples, types


class Metrics:
    """One worker's scrape, parsed."""

    def __init__(self, text):
        self.samples, self.types = parse_exposition(text)

    def total(self, name, **match):
        """The sum of every sample of `name` whose labels include `match`; None when there is none."""
        values = [value for sample, labels, value in self.samples
                  if sample == name and all(labels.get(k) == v for k, v in match.items())]
        return sum(values) if values else None

    def buckets(self, family):
        """{upper bound: cumulative count} of histogram `family`, summed over every other label."""
        result = {}
        for sample, labels, value in self.samples:
            if sample == family + "_bucket" and "le" in labels:
                bound = float(labels["le"])
                result[bound] = result.get(bound, 0.0) + value
        return result


def histogram_quantile(q, buckets):
    """Prometheus's histogram_quantile on {upper bound: cumulative count}: linear
    interpolation inside the bucket holding the rank; the lowest bucket starts
    at 0; a rank in the +Inf bucket gives the highest finite bound. NaN when
    there are no observations (or no +Inf bucket)."""
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    bounds = sorted(buckets)
    if len(bounds) < 2 or bounds[-1] != math.inf:
        return math.nan
    counts, highest = [], 0.0
    for bound in bounds:  # cumulative counts never fall (a torn scrape could say so)
        highest = max(highest, buckets[bound])
        counts.append(highest)
    observations = counts[-1]
    if observations == 0 or math.isnan(observations):
        return math.nan
    rank = q * observations
    index = next(i for i, count in enumerate(counts) if count >= rank)
    if index == len(bounds) - 1:
        return bounds[-2]
    if index == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[index], counts[index]
    if index > 0:
        start = bounds[index - 1]
        count -= counts[index - 1]
        rank -= counts[index - 1]
    return start + (end - start) * (rank / count)


def counter_delta(before, after):
    """A counter's increase; a counter that fell was reset (the worker restarted) and counts from 0."""
    if before is None or after is None:
        return None
    return after - before if after >= before else after


def bucket_delta(before, after):
    """The buckets' increase between two scrapes (a reset: the later buckets)."""
    if not after:
        return {}
    if not before or any(after.get(bound, 0.0) < count for bound, count in before.items()):
        return dict(after)
    return {bound: count - before.get(bound, 0.0) for bound, count in after.items()}


# --- nginx stub_status ---

_STUB = re.compile(
    r"Active connections:\s*(?P<active>\d+)\s+server accepts handled requests\s+"
    r"(?P<accepts>\d+)\s+(?P<handled>\d+)\s+(?P<requests>\d+)\s+"
    r"Reading:\s*(?P<reading>\d+)\s+Writing:\s*(?P<writing>\d+)\s+Waiting:\s*(?P<waiting>\d+)")


def parse_stub_status(text):
    match = _STUB.search(text)
    if not match:
        raise ParseError(f"not nginx stub_status: {text[:200]!r}")
    return {key: int(value) for key, value in match.groupdict().items()}


# --- Fetching ---

class FetchError(Exception):
    pass


def listener_address(listen):
    """MUSIC_METRICS_LISTEN (ADDRESS:PORT or PORT) -> (host, port) to connect to:
    a wildcard address is reached on loopback."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if host in ("*", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if not port.isdigit():
        raise ValueError(f"not ADDRESS:PORT or PORT: {listen!r}")
    return host, int(port)


def fetch(address, path, timeout=FETCH_TIMEOUT):
    """GET http://ADDRESS/PATH -> (status, body text). Every step, and the whole
    answer, within `timeout` seconds; FetchError when that fails."""
    deadline = time.monotonic() + timeout
    connection = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        connection.connect()
        sock = connection.sock  # http.client lets go of it once the answer says "close"
        connection.request("GET", path, headers={"Accept": "text/plain"})
        response = connection.getresponse()
        chunks, size = [], 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchError(f"timed out after {timeout:g} s")
            sock.settimeout(remaining)
            chunk = response.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_ANSWER:
                raise FetchError(f"answer larger than {MAX_ANSWER} bytes")
            chunks.append(chunk)
        return response.status, b"".join(chunks).decode("utf-8", "replace")
    except TimeoutError:
        raise FetchError(f"timed out after {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as error:
        raise FetchError(str(error) or type(error).__name__) from None
    finally:
        connection.close()


class WorkerScrape:
    """Worker N at one instant: metrics, or why there are none (DOWN)."""

    def __init__(self, number, metrics=None, error=None):
        self.number, self.metrics, self.error = number, metrics, error


def scrape_worker(address, number, timeout):
    try:
        status, body = fetch(address, f"/internal/metrics/worker-{number}", timeout)
    except FetchError as error:
        return WorkerScrape(number, error=str(error))
    if status != 200:
        return WorkerScrape(number, error=f"HTTP {status}")
    try:
        return WorkerScrape(number, metrics=Metrics(body))
    except ParseError as error:
        return WorkerScrape(number, error=f"unreadable metrics ({error})")


def discover_workers(address, timeout):
    """The worker numbers the listener serves: worker-N from 0 or 1 (lib.sh numbers
    its workers from 1) up to the first that answers 404. A worker that is down
    (502, 504, timeout) is still one."""
    numbers = []
    for number in range(MAX_WORKERS + 1):
        try:
            status, _ = fetch(address, f"/internal/metrics/worker-{number}", timeout)
        except FetchError:
            status = None
        if status == 404:
            if number == 0:
                continue
            break
        numbers.append(number)
    return numbers


class Snapshot:
    def __init__(self, when, workers, nginx, nginx_error):
        self.when, self.workers, self.nginx, self.nginx_error = when, workers, nginx, nginx_error


def take_snapshot(address, numbers, timeout, pool):
    """Every worker and nginx at once (in parallel: a hung worker costs `timeout` once)."""
    when = time.monotonic()
    futures = {number: pool.submit(scrape_worker, address, number, timeout) for number in numbers}
    nginx, nginx_error = None, None
    try:
        status, body = fetch(address, "/internal/nginx_status", timeout)
        if status == 200:
            nginx = parse_stub_status(body)
        else:
            nginx_error = f"HTTP {status}"
    except (FetchError, ParseError) as error:
        nginx_error = str(error)
    workers = {number: future.result() for number, future in futures.items()}
    return Snapshot(when, workers, nginx, nginx_error)


# --- The view ---

def _rate(delta, seconds):
    return None if delta is None or seconds <= 0 else delta / seconds


def _quantile(q, buckets):
    """None when nothing was observed in the interval (not NaN: shown as "-")."""
    return histogram_quantile(q, buckets) if buckets and max(buckets.values()) > 0 else None


def worker_row(before, after, seconds, now_epoch):
    """What one worker's line shows, from its two scrapes (`before` may be DOWN)."""
    row = {"worker": after.number, "up": after.metrics is not None, "error": after.error}
    if after.metrics is None:
        return row
    b = after.metrics
    a = before.metrics if before is not None and before.metrics is not None else None
    started = b.total("process_start_time_seconds")
    restarted = a is not None and started is not None and a.total("process_start_time_seconds") != started
    if restarted:  # counters start again from zero: count what the new process did
        a = None

    known = a is not None or restarted  # else: no earlier scrape of this process, no rates

    def delta(name, **match):
        if not known:
            return None
        if b.total(name, **match) is None and b.total(name) is not None:
            return 0.0  # series appear on their first increment: none yet is none in the interval
        return counter_delta(a.total(name, **match) if a else 0.0, b.total(name, **match))

    def increase(family):
        return bucket_delta(a.buckets(family) if a else {}, b.buckets(family)) if known else None

    row.update(
        threads=b.total("music_worker_threads"),
        busy=b.total("music_worker_threads_busy"),
        keepalive=b.total("music_worker_threads_keepalive"),
        busy_max=b.total("music_worker_threads_busy_max"),
        backlog=b.total("music_worker_listen_backlog"),
        backlog_limit=b.total("music_worker_listen_backlog_limit"),
        rss=b.total("process_resident_memory_bytes"),
        uptime=None if started is None else max(0.0, now_epoch - started),
        requests=delta("music_http_requests_total"),
        errors_4xx=delta("music_http_requests_total", status_class="4xx"),
        errors_5xx=delta("music_http_requests_total", status_class="5xx"),
        saturated=delta("music_worker_saturated_total"),
        http_buckets=increase("music_http_request_duration_seconds"),
        commit_buckets=increase("music_write_commit_duration_seconds"),
    )
    row["p50"] = _quantile(0.5, row["http_buckets"])
    row["p99"] = _quantile(0.99, row["http_buckets"])
    row["commit_p99"] = _quantile(0.99, row["commit_buckets"])
    for key in ("requests", "errors_4xx", "errors_5xx", "saturated"):
        row[key + "_per_s"] = _rate(row[key], seconds)
    return row


def build_view(before, after, now_epoch=None):
    """The view's figures from two snapshots: {'seconds', 'workers': [row...], 'total', 'nginx'}."""
    now_epoch = time.time() if now_epoch is None else now_epoch
    seconds = after.when - before.when
    rows = [worker_row(before.workers.get(number), scrape, seconds, now_epoch)
            for number, scrape in sorted(after.workers.items())]
    total = {"workers_up": sum(row["up"] for row in rows), "workers": len(rows)}
    for key in ("requests", "errors_4xx", "errors_5xx", "saturated"):
        values = [row[key] for row in rows if row.get(key) is not None]
        total[key] = sum(values) if values else None
        total[key + "_per_s"] = _rate(total[key], seconds)
    for key in ("threads", "busy", "keepalive"):
        values = [row[key] for row in rows if row.get(key) is not None]
        total[key] = sum(values) if values else None
    maxima = [row["busy_max"] for row in rows if row.get("busy_max") is not None]
    total["busy_max"] = max(maxima) if maxima else None
    for family in ("http", "commit"):
        merged = {}
        for row in rows:
            for bound, count in (row.get(family + "_buckets") or {}).items():
                merged[bound] = merged.get(bound, 0.0) + count
        total[family + "_buckets"] = merged
    total["p50"] = _quantile(0.5, total["http_buckets"])
    total["p99"] = _quantile(0.99, total["http_buckets"])
    total["commit_p99"] = _quantile(0.99, total["commit_buckets"])
    nginx = None
    if after.nginx is not None:
        nginx = dict(after.nginx)
        requests = (counter_delta(before.nginx["requests"], after.nginx["requests"])
                    if before.nginx is not None else None)
        nginx["requests_per_s"] = _rate(requests, seconds)
    return {"seconds": seconds, "workers": rows, "total": total, "nginx": nginx, "nginx_error": after.nginx_error}


def _number(value, digits=1):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _count(value):
    return "-" if value is None else f"{value:.0f}"


def _ms(seconds):
    if seconds is None or math.isnan(seconds):
        return "-"
    milliseconds = seconds * 1000
    return f"{milliseconds:.1f}" if milliseconds < 100 else f"{milliseconds:.0f}"


def _duration(seconds):
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s"


COLUMNS = [  # header, width, how a row shows it
    ("worker", 6, lambda r: str(r["worker"]) if "worker" in r else "all"),
    ("threads", 9, lambda r: f"{_count(r.get('busy'))}/{_count(r.get('threads'))}"),
    ("kept", 5, lambda r: _count(r.get("keepalive"))),
    ("max", 4, lambda r: _count(r.get("busy_max"))),
    ("req/s", 8, lambda r: _number(r.get("requests_per_s"))),
    ("p50 ms", 7, lambda r: _ms(r.get("p50"))),
    ("p99 ms", 7, lambda r: _ms(r.get("p99"))),
    ("4xx/s", 6, lambda r: _number(r.get("errors_4xx_per_s"))),
    ("5xx/s", 6, lambda r: _number(r.get("errors_5xx_per_s"))),
    ("sat/s", 6, lambda r: _number(r.get("saturated_per_s"))),
    ("backlog", 9, lambda r: (_count(r.get("backlog")) + ("/" + _count(r["backlog_limit"]) if r.get("backlog_limit") is not None else ""))
                            if "worker" in r else ""),
    ("commit p99", 10, lambda r: _ms(r.get("commit_p99"))),
    ("rss MiB", 7, lambda r: _number(r["rss"] / (1 << 20), 0) if r.get("rss") is not None else ("-" if "worker" in r else "")),
    ("up", 7, lambda r: _duration(r.get("uptime")) if "worker" in r else ""),
]


def render(view, listen, wall_clock=None):
    """The view as text: a header, nginx's line, one line per worker and a total."""
    wall_clock = time.time() if wall_clock is None else wall_clock
    lines = [f"music-collections on {listen}   {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(wall_clock))}"
             f"   rates over the last {view['seconds']:.1f} s"]
    nginx = view["nginx"]
    if nginx is not None:
        lines.append(f"nginx: {nginx['active']} connections (reading {nginx['reading']}, writing {nginx['writing']},"
                     f" waiting {nginx['waiting']}), {_number(nginx['requests_per_s'])} requests/s"
                     f" (this view's own included)")
    else:
        lines.append(f"nginx: stub_status unavailable ({view['nginx_error']})")
    total = view["total"]
    lines.append(f"workers: {total['workers_up']} of {total['workers']} up")
    lines.append("")
    lines.append("  ".join(header.rjust(width) for header, width, _ in COLUMNS))
    for row in view["workers"]:
        if not row["up"]:
            lines.append(f"{str(row['worker']).rjust(COLUMNS[0][1])}  DOWN ({row['error']})")
            continue
        lines.append("  ".join(show(row).rjust(width) for _, width, show in COLUMNS))
    if len(view["workers"]) > 1:
        lines.append("  ".join(show(total).rjust(width) for _, width, show in COLUMNS))
    lines.append("")
    lines.append("threads: busy/total; kept: held idle by a kept-alive nginx connection; max: most busy at once;"
                 " sat/s: requests that found no thread free;")
    lines.append("backlog: connections waiting to be accepted/limit; p50, p99: time in the worker (a wait in the"
                 " backlog is not in them); commit p99: SQLite's COMMIT with fsync.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="deploy/status",
        description="A terminal view of the running stack, from the metrics nginx's internal listener serves: "
                    "per worker threads busy/total, requests/s, p50/p99, errors, commit time; nginx's connections.")
    parser.add_argument("--listen", required=True, help="nginx's internal listener, ADDRESS:PORT (MUSIC_METRICS_LISTEN)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--watch", action="store_true", help="refresh every --interval seconds until interrupted")
    mode.add_argument("--once", action="store_true", help="one view after two scrapes (the default)")
    parser.add_argument("--workers", type=lambda text: [int(n) for n in text.split()],
                        help="the worker numbers, as deploy/lib.sh's metrics_workers lists them"
                             " (deploy/status passes them; without it the listener is probed)")
    parser.add_argument("--interval", type=float, default=2.0,
                        help="seconds between the two scrapes, and between refreshes with --watch (default 2)")
    parser.add_argument("--timeout", type=float, default=FETCH_TIMEOUT,
                        help=f"seconds a fetch may take before its worker is shown DOWN (default {FETCH_TIMEOUT:g})")
    options = parser.parse_args(argv)
    if options.interval <= 0 or options.timeout <= 0:
        parser.error("--interval and --timeout must be positive")
    try:
        address = listener_address(options.listen)
    except ValueError as error:
        parser.error(f"--listen: {error}")

    try:
        status, _ = fetch(address, "/internal/nginx_status", options.timeout)
    except FetchError as error:
        print(f"deploy/status: nginx's internal listener on {options.listen} does not answer ({error});"
              f" is the stack running, with this MUSIC_METRICS_LISTEN?", file=sys.stderr)
        return EXIT_UNREACHABLE
    numbers = options.workers if options.workers is not None else discover_workers(address, options.timeout)
    if not numbers:
        print(f"deploy/status: the listener on {options.listen} serves no worker's metrics"
              f" (nginx_status answered {status})", file=sys.stderr)
        return EXIT_UNREACHABLE

    clear = "\x1b[H\x1b[2J" if options.watch and sys.stdout.isatty() else ""
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(32, len(numbers))) as pool:
        try:
            before = take_snapshot(address, numbers, options.timeout, pool)
            while True:
                time.sleep(max(0.0, options.interval - (time.monotonic() - before.when)))
                after = take_snapshot(address, numbers, options.timeout, pool)
                text = render(build_view(before, after), options.listen)
                print(clear + text, flush=True)
                if not options.watch:
                    return EXIT_OK
                print(flush=True)
                before = after
        except KeyboardInterrupt:
            print(file=sys.stderr)
            return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
