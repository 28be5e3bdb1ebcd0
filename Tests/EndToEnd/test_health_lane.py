"""GET /v1/music/health has a lane of its own (music-fcgi --health-socket, nginx's
music_health upstream): with every request thread of every worker held and more
connections waiting in each worker's backlog, a probe through nginx is still
answered within a second, with the database checked; any other path sent to the
health socket gets the 404 envelope."""
import os

import pytest
import pathlib
import re
import signal
import socket
import struct
import subprocess
import time

from edge_client import get
from log_wait import records
from metrics_support import ROOT, lib_settings

RUN_DIR = pathlib.Path(os.environ["MUSIC_RUN_DIR"])
# The fallback test's probes come from this address (edge_client: loopback
# sources of their own), to find them in nginx's access log.
PROBE_SOURCE = "127.0.0.97"
QUEUED = 32


def wait_for(condition, timeout=30.0, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def begin_request_only(path):
    """A FastCGI connection that sends FCGI_BEGIN_REQUEST and nothing more: the
    thread that takes it waits in libfcgi for the parameters, held."""
    connection = socket.socket(socket.AF_UNIX)
    connection.settimeout(5)
    connection.connect(str(path))
    # version 1, FCGI_BEGIN_REQUEST, request 1, 8 bytes; role responder, keep the connection.
    connection.sendall(struct.pack(">BBHHBB", 1, 1, 1, 8, 0, 0) + struct.pack(">HB5x", 1, 1))
    return connection


def fastcgi_get(path, uri):
    env = {"REQUEST_METHOD": "GET", "REQUEST_URI": uri, "SCRIPT_NAME": uri, "REQUEST_ID": "lanetest",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    result = subprocess.run(["cgi-fcgi", "-bind", "-connect", str(path)], env=env, capture_output=True, timeout=20)
    return result.stdout


def worker_sockets():
    sockets = sorted(RUN_DIR.glob("worker-*.sock"))
    assert sockets, f"no worker sockets in {RUN_DIR}"
    return sockets


def worker_gauges(index):
    """Worker `index`'s gauges from its metrics socket ({} while it does not answer)."""
    text = fastcgi_get(RUN_DIR / "metrics" / f"worker-{index}.sock", "/internal/metrics/worker").decode(errors="replace")
    names = ("music_worker_listen_backlog", "music_worker_threads_keepalive")
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.split(" ")[0] in names}


def all_held_and_queued(index):
    """QUEUED connections to worker `index` wait beyond those holding its threads:
    in the backlog, or accepted before their first bytes came and parked (a free
    thread parks a connection with nothing to read yet)."""
    gauges = worker_gauges(index)
    waiting = gauges.get("music_worker_listen_backlog", 0) + gauges.get("music_worker_threads_keepalive", 0)
    return waiting >= QUEUED


def health_through_nginx(stack, timeout):
    started = time.monotonic()
    result = subprocess.run(["curl", "-s", "--cacert", stack.cert, "-m", str(timeout), "-o", "/dev/null",
                             "-w", "%{http_code}", f"{stack.https}/v1/music/health"],
                            capture_output=True, text=True)
    return result.stdout, time.monotonic() - started


def restart_workers(stack):
    """Stops every worker; deploy/up's supervisor starts a new one on a new socket
    (nginx's kept-alive connections to the old ones are gone). Returns once each
    socket file is new, before any request could reach the new worker."""
    sockets = worker_sockets()
    # A new socket file may get the old one's inode number (tmpfs): compare the change time too.
    identity = lambda status: (status.st_ino, status.st_ctime_ns)
    before = {path: identity(path.stat()) for path in sockets}
    for index in range(1, len(sockets) + 1):
        pid = stack.pid(f"worker-{index}")
        if pid:
            os.kill(pid, 15)

    def renewed(path):
        try:
            return identity(path.stat()) != before[path]
        except FileNotFoundError:
            return False
    for path in sockets:
        assert wait_for(lambda: renewed(path), timeout=30, step=0.005), f"{path} was not created again"
    return sockets


def test_health_answers_within_a_second_while_every_thread_is_held_and_connections_queue(stack):
    threads = lib_settings()["threads"]
    held = []
    try:
        # Fill every thread of every (new) worker before nginx connects to it, so
        # that nothing nginx sends there can be served: THREADS connections take
        # the threads, QUEUED more wait in the backlog.
        sockets = restart_workers(stack)
        for path in sockets:
            for _ in range(threads + QUEUED):
                held.append(begin_request_only(path))
        for index in range(1, len(sockets) + 1):
            assert wait_for(lambda: all_held_and_queued(index)), \
                f"worker {index}: not every thread held with {QUEUED} connections waiting: {worker_gauges(index)}"
        # Through nginx, as a load balancer probes: answered by the health lane.
        for _ in range(5):
            status, seconds = health_through_nginx(stack, timeout=5)
            assert status == "200" and seconds < 1.0, (status, seconds)
        # An API read waits meanwhile (every thread held): the lane is what answers.
        status, _ = health_through_nginx_of(stack, f"{stack.api}/collections", timeout=1)
        assert status != "200", status
    finally:
        for connection in held:
            connection.close()
    # Released: the API answers again.
    assert wait_for(lambda: health_through_nginx_of(stack, f"{stack.api}/collections", timeout=5)[0] == "200")


def health_through_nginx_of(stack, url, timeout):
    started = time.monotonic()
    result = subprocess.run(["curl", "-s", "--cacert", stack.cert, "-m", str(timeout), "-o", "/dev/null",
                             "-H", f"X-API-Key: {stack.key}", "-w", "%{http_code}", url],
                            capture_output=True, text=True)
    return result.stdout, time.monotonic() - started


def test_the_health_socket_answers_health_and_nothing_else():
    for path in worker_sockets():
        index = path.name.removeprefix("worker-").removesuffix(".sock")
        lane = RUN_DIR / "metrics" / f"health-{index}.sock"
        assert wait_for(lane.exists), f"{lane} missing"
        answer = fastcgi_get(lane, "/v1/music/health")
        assert answer.startswith(b"Status: 200") and b'{"status":"ok"}' in answer, answer[:200]
        other = fastcgi_get(lane, "/v1/music/openapi.yaml")
        assert other.startswith(b"Status: 404") and b"RESOURCE_NOT_FOUND" in other, other[:200]


def test_nginx_sends_health_to_the_health_sockets_with_the_request_sockets_as_backups(tmp_path):
    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, MUSIC_WORKERS="2", MUSIC_VAR_DIR=str(tmp_path / "var"), MUSIC_RUN_DIR=str(tmp_path / "run"),
               MUSIC_TLS_CERT="/dev/null", MUSIC_TLS_KEY="/dev/null")
    out = tmp_path / "nginx"
    subprocess.run([str(root / "deploy" / "render-nginx"), str(out)], env=env, capture_output=True, text=True, check=True)
    health = re.search(r"upstream music_health \{(.*?)\}", (out / "nginx.conf").read_text(), re.S).group(1)
    run = tmp_path / "run"
    assert re.findall(r"server (\S+?)( backup)? ", health) == [
        (f"unix:{run}/metrics/health-1.sock", ""), (f"unix:{run}/worker-1.sock", " backup"),
        (f"unix:{run}/metrics/health-2.sock", ""), (f"unix:{run}/worker-2.sock", " backup")]
    upstream = re.search(r"map \"\$request_method \$uri\" \$music_upstream \{(.*?)\}", (out / "music-common.conf").read_text(),
                         re.S).group(1)
    assert '"GET /v1/music/health"   music_health;' in upstream and '"HEAD /v1/music/health"  music_health;' in upstream
    # Remote workers (MUSIC_UPSTREAMS): their health shares their queue.
    remote = tmp_path / "nginx-remote"
    subprocess.run([str(root / "deploy" / "render-nginx"), str(remote)], capture_output=True, text=True, check=True,
                   env=dict(env, MUSIC_UPSTREAMS="server 10.0.0.11:9000;server 10.0.0.12:9000;"))
    health = re.search(r"upstream music_health \{(.*?)\}", (remote / "nginx.conf").read_text(), re.S).group(1)
    assert re.findall(r"server (\S+?);", health) == ["10.0.0.11:9000", "10.0.0.12:9000"]


def nginx_workers(master):
    """The pids of nginx's worker processes (the master's children)."""
    children = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                children.add(int(entry))
    return children


@pytest.mark.stops_workers
def test_health_falls_back_to_the_request_sockets_when_no_health_socket_answers(stack):
    """An executable older than the lane (mid-upgrade) has no health socket: nginx
    must turn to the request sockets, its backups. With max_fails=0 on the health
    sockets it never did, and health stayed 502 (deploy/package-test's upgrade)."""
    import requests
    lanes = sorted((RUN_DIR / "metrics").glob("health-*.sock"))
    assert lanes, "no health socket"
    moved = [(lane, lane.with_name(lane.name + ".away")) for lane in lanes]
    master = stack.pid("nginx")
    before = nginx_workers(master)
    try:
        for lane, away in moved:
            lane.rename(away)
        # nginx keeps idle connections to the lanes (keepalive), which the rename
        # leaves working: reload it and wait for its old workers to be gone, so that
        # the new ones, holding none, meet sockets that are not there, as after an
        # upgrade to an executable without a lane.
        os.kill(master, signal.SIGHUP)
        processes = int(subprocess.run(["bash", "-c", f'source "{ROOT}/deploy/lib.sh" && echo "$NGINX_WORKER_PROCESSES"'],
                                       capture_output=True, text=True, check=True).stdout)
        assert wait_for(lambda: not nginx_workers(master) & before and len(nginx_workers(master)) >= processes), \
            f"nginx's workers before the reload {sorted(before)}, now {sorted(nginx_workers(master))}"
        # The backups answer in the same request: not one 502 (with 2 tries, the
        # first probe each nginx worker sent was one).
        statuses = [get(stack, "/v1/music/health", PROBE_SOURCE)[0] for _ in range(12)]
        assert statuses == [200] * 12, statuses
        # And they were the ones that answered: the last server each probe tried is
        # a request socket.
        log = stack.var / "log" / "nginx-access.log"
        probes = lambda: [r for r in records(log) if r.get("client") == PROBE_SOURCE and r.get("path") == "/v1/music/health"]
        assert wait_for(lambda: len(probes()) >= 12), probes()
        answered_by = [r["upstream_addr"].split(", ")[-1] for r in probes()]
        assert all(re.search(r"/worker-\d+\.sock$", address) for address in answered_by), answered_by
    finally:
        for lane, away in moved:
            away.rename(lane)
    # Back in place: health answers (through the backups until fail_timeout passes).
    assert wait_for(lambda: requests.get(f"{stack.https}/v1/music/health", verify=stack.cert, timeout=5).status_code == 200)
