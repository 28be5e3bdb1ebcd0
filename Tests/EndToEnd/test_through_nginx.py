"""End-to-end: real requests through nginx (TLS and plain HTTP) to the worker."""
import pytest
import json
import pathlib
import re
import os
import signal
import subprocess
import time

import requests

from log_wait import logs_caught_up


def envelope_ok(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    error = body["error"]
    assert error["code"] == code
    assert error["status"] == status
    assert error["trace_id"] == response.headers["X-Request-ID"]
    assert error["trace_id"].startswith("req_") and len(error["trace_id"]) == 36
    assert error["timestamp"].endswith("Z")
    return error


def test_health_over_tls(stack):
    response = requests.get(f"{stack.https}/v1/music/health", verify=stack.cert)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_over_plain_http_on_loopback(stack):
    assert requests.get(f"{stack.http}/v1/music/health").json() == {"status": "ok"}


def test_https_speaks_http2(stack):
    version = subprocess.run(
        ["curl", "-s", "--http2", "--cacert", stack.cert, "-o", "/dev/null", "-w", "%{http_version}",
         f"{stack.https}/v1/music/health"], capture_output=True, text=True, check=True).stdout
    assert version == "2"


def test_unknown_path_is_404_envelope_with_matching_trace_id(stack):
    envelope_ok(requests.get(f"{stack.https}/nowhere", verify=stack.cert), 404, "RESOURCE_NOT_FOUND")


def test_wrong_method_is_405_with_allow(stack):
    response = requests.put(f"{stack.https}/v1/music/health", verify=stack.cert)
    envelope_ok(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == "GET"


def test_two_mib_post_is_json_413_from_nginx(stack):
    response = requests.post(f"{stack.api}/collections", data=b"x" * (2 << 20), verify=stack.cert,
                             headers={"X-API-Key": stack.key, "Content-Type": "application/json"})
    envelope_ok(response, 413, "PAYLOAD_TOO_LARGE")


def test_key_passes_through_both_header_forms(stack):
    assert requests.get(f"{stack.api}/collections", headers={"X-API-Key": stack.key}, verify=stack.cert).status_code == 200
    assert requests.get(f"{stack.api}/collections", headers={"Authorization": f"Bearer {stack.key}"},
                        verify=stack.cert).status_code == 200
    envelope_ok(requests.get(f"{stack.api}/collections", verify=stack.cert), 401, "AUTHENTICATION_REQUIRED")


def test_client_request_id_cannot_replace_nginx_one(stack):
    response = requests.get(f"{stack.https}/nowhere", headers={"X-Request-ID": "chosen-by-client"}, verify=stack.cert)
    assert response.json()["error"]["trace_id"] != "req_chosen-by-client"


def test_documented_flow_with_curl_and_the_demo_key(stack):
    key = ["-H", f"X-API-Key: {stack.key}"]
    json_type = ["-H", "Content-Type: application/json"]
    status, created = stack.curl("-X", "POST", f"{stack.api}/collections", *key, *json_type,
                           "-d", '{"name": "Focus Sessions", "description": "Instrumental tracks for deep work"}')
    assert status == 201 and created["track_count"] == 0
    collection = f"{stack.api}/collections/{created['id']}"
    for track in stack.tracks[:3]:
        status, ack = stack.curl("-X", "POST", f"{collection}/tracks", *key, *json_type, "-d", json.dumps({"track_id": track}))
        assert (status, ack) == (200, {"success": True, "id": track, "detail": "Track added to collection."})
    status, listing = stack.curl(f"{collection}/tracks", *key)
    assert [item["track_id"] for item in listing["items"]] == stack.tracks[:3]
    status, ack = stack.curl("-X", "PATCH", f"{collection}/order", *key, *json_type,
                       "-d", json.dumps({"ordered_track_ids": [stack.tracks[2]]}))
    assert ack["detail"] == "Collection reordered."
    status, ack = stack.curl("-X", "DELETE", f"{collection}/tracks/{stack.tracks[0]}", *key)
    assert ack["detail"] == "Track removed from collection."
    status, listing = stack.curl(f"{collection}/tracks", *key)
    assert [(item["track_id"], item["position"]) for item in listing["items"]] == [(stack.tracks[2], 0), (stack.tracks[1], 1)]
    status, ack = stack.curl("-X", "DELETE", collection, *key)
    assert (status, ack["detail"]) == (200, "Collection deleted.")
    status, gone = stack.curl(collection, *key)
    assert status == 404 and gone["error"]["code"] == "RESOURCE_NOT_FOUND"


def test_logs_never_hold_the_api_key(stack):
    requests.get(f"{stack.api}/collections", headers={"X-API-Key": stack.key}, verify=stack.cert)
    logs_caught_up(stack)
    logs = list((stack.var / "log").iterdir())
    assert logs
    for path in logs:
        assert stack.key not in path.read_text(errors="replace"), path


def connect_as(user, path):
    probe = f"import socket; socket.socket(socket.AF_UNIX).connect({path!r})"
    return subprocess.run(["runuser", "-u", user, "--", "python3", "-c", probe], capture_output=True, text=True)


def test_socket_is_reachable_by_nginx_user_only(stack):
    run_dir = os.environ["MUSIC_RUN_DIR"]
    sockets = [os.path.join(run_dir, name) for name in os.listdir(run_dir) if name.endswith(".sock")]
    assert sockets
    assert os.stat(run_dir).st_mode & 0o007 == 0
    for path in sockets:
        assert os.stat(path).st_mode & 0o777 == 0o660
        assert connect_as("www-data", path).returncode == 0
        refused = connect_as("nobody", path)
        assert refused.returncode != 0 and "PermissionError" in refused.stderr


def test_a_dead_worker_is_restarted_by_the_supervisor(stack):
    old = stack.pid("worker-1")
    os.kill(old, signal.SIGKILL)
    deadline = time.time() + 2
    while time.time() < deadline:
        if stack.pid("worker-1") != old and requests.get(f"{stack.https}/v1/music/health", verify=stack.cert).status_code == 200:
            break
        time.sleep(0.1)
    assert stack.pid("worker-1") != old
    assert requests.get(f"{stack.https}/v1/music/health", verify=stack.cert).status_code == 200


def test_worker_sockets_are_close_on_exec(stack):
    """A crashing worker runs the Swift backtracer as a child: it must not inherit the
    listening socket or nginx's connections, or it holds them open after the worker died."""
    for _ in range(5):
        assert requests.get(f"{stack.https}/v1/music/health", verify=stack.cert).status_code == 200
    pid = stack.pid("worker-1")
    sockets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith("socket:"):
            flags = next(line for line in open(f"/proc/{pid}/fdinfo/{fd}") if line.startswith("flags:"))
            sockets.append((int(fd), int(flags.split()[1], 8) & os.O_CLOEXEC != 0))
    assert 0 in dict(sockets)
    assert len(sockets) >= 2  # the listening socket and at least one kept-alive nginx connection
    assert all(cloexec for _, cloexec in sockets), sockets


def test_writes_go_to_the_first_worker_and_reads_to_both(stack):
    """With SQLite, nginx sends every write to worker 1 while it is up (its
    group commit then batches them all) and reads to both workers."""
    headers = {"X-API-Key": stack.key}
    writes, reads = [], []
    for number in range(12):
        created = requests.post(f"{stack.api}/collections", headers=headers, verify=stack.cert,
                                json={"name": f"Routing {number}"})
        assert created.status_code == 201, created.text
        writes.append(created.headers["X-Request-ID"])
        deleted = requests.delete(f"{stack.api}/collections/{created.json()['id']}", headers=headers, verify=stack.cert)
        assert deleted.status_code == 200, deleted.text
        writes.append(deleted.headers["X-Request-ID"])
    for _ in range(12):
        listed = requests.get(f"{stack.api}/collections", headers=headers, verify=stack.cert)
        assert listed.status_code == 200, listed.text
        reads.append(listed.headers["X-Request-ID"])
    logs_caught_up(stack)
    logs = {index: (stack.var / "log" / f"worker-{index}.log").read_text(errors="replace") for index in (1, 2)}
    assert all(trace in logs[1] for trace in writes)
    assert not any(trace in logs[2] for trace in writes)
    assert all(any(trace in logs[index] for trace in reads) for index in (1, 2))


@pytest.mark.stops_workers
def test_one_dead_worker_costs_no_request(stack):
    """Two workers behind one upstream: with one killed, requests keep succeeding,
    writes too: with the first worker gone they go to its backup, the second."""
    os.kill(stack.pid("supervisor-1"), signal.SIGTERM)
    os.kill(stack.pid("worker-1"), signal.SIGKILL)
    statuses = [requests.get(f"{stack.https}/v1/music/health", verify=stack.cert).status_code for _ in range(20)]
    assert statuses == [200] * 20
    headers = {"X-API-Key": stack.key}
    for number in range(5):
        created = requests.post(f"{stack.api}/collections", headers=headers, verify=stack.cert,
                                json={"name": f"Backup {number}"})
        assert created.status_code == 201, created.text


@pytest.mark.stops_workers
def test_no_worker_gives_the_502_envelope(stack):
    os.kill(stack.pid("supervisor-2"), signal.SIGTERM)
    worker = stack.pid("worker-2")
    os.kill(worker, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{worker}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{worker}"), "worker-2 did not exit within 10 s of SIGTERM"
    envelope_ok(requests.get(f"{stack.https}/v1/music/health", verify=stack.cert), 502, "SERVICE_UNAVAILABLE")


def test_systemd_units_verify(tmp_path):
    """The production units pass systemd-analyze verify (binaries pointed at this build)."""
    units = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "systemd"
    bin_dir = os.environ["MUSIC_BIN_DIR"]
    for unit in units.iterdir():
        text = unit.read_text().replace("/usr/local/bin", bin_dir)
        (tmp_path / unit.name.replace("@.", "@1.")).write_text(text)
    names = [str(path) for path in sorted(tmp_path.iterdir())]
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *names], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "music" not in result.stderr, result.stderr


def test_rendered_production_config_is_valid_nginx(tmp_path, stack):
    env = dict(os.environ, MUSIC_WORKERS="2", MUSIC_VAR_DIR=str(tmp_path / "var"), MUSIC_RUN_DIR=str(tmp_path / "run"),
               MUSIC_TLS_CERT=stack.cert, MUSIC_TLS_KEY=str(stack.var / "tls" / "key.pem"))
    root = pathlib.Path(__file__).resolve().parents[2]
    out = tmp_path / "nginx"
    subprocess.run([str(root / "deploy" / "render-nginx"), str(out)], env=env, capture_output=True, text=True, check=True)
    config = (out / "nginx.conf").read_text()
    # Reads: both workers; writes: the first, the second as its backup.
    reads = re.search(r"upstream music_workers \{(.*?)\}", config, re.S).group(1)
    writes = re.search(r"upstream music_writers \{(.*?)\}", config, re.S).group(1)
    assert re.findall(r"server (\S+?)( backup)? ", reads) == [(f"unix:{tmp_path}/run/worker-{n}.sock", "") for n in (1, 2)]
    assert re.findall(r"server (\S+?)( backup)? ", writes) == [(f"unix:{tmp_path}/run/worker-1.sock", ""),
                                                              (f"unix:{tmp_path}/run/worker-2.sock", " backup")]
    writers = re.compile(r"map [^{]*\$music_upstream \{[^}]*default\s+(\w+);")
    assert writers.search((out / "music-common.conf").read_text()).group(1) == "music_writers"
    # With other hosts (PostgreSQL), writes share the reads' pool: every host writes.
    remote = tmp_path / "nginx-remote"
    subprocess.run([str(root / "deploy" / "render-nginx"), str(remote)], capture_output=True, text=True, check=True,
                   env=dict(env, MUSIC_UPSTREAMS="server 10.0.0.11:9000;server 10.0.0.12:9000;",
                            MUSIC_METRICS_UPSTREAMS="10.0.0.11:9100 10.0.0.12:9100"))
    assert writers.search((remote / "music-common.conf").read_text()).group(1) == "music_workers"
    for path in out.iterdir():
        assert not re.search(r"@[A-Z_]+@", path.read_text()), path
    for folder in ["client_body", "fastcgi", "proxy", "uwsgi", "scgi"]:
        (tmp_path / "run" / "nginx" / folder).mkdir(parents=True, exist_ok=True)
    check = subprocess.run(["nginx", "-t", "-q", "-e", str(tmp_path / "error.log"), "-c", str(out / "nginx.conf")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
