"""The logs as JSON lines: each worker's (one object per event, the request line
with its route template) and nginx's access log (escape=json), joined by the
trace id; a client's well-formed W3C traceparent logged in both, a malformed one
in neither; never a key, a share token, a query string or a body; the two fields
the worker hands nginx for its log (X-Music-Route, X-Music-User) never reach the
client. From a source address of their own (see edge_client)."""
import json
import random
import re
import subprocess

from edge_client import call, connection, own_key, tls_connection
from log_wait import logs_caught_up, records, wait_for_record

SOURCE = "127.0.0.110"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
WORKER_REQUEST_FIELDS = {"time", "level", "logger", "message", "trace_id", "method", "route", "status",
                         "duration_ms", "user_id", "w3c_trace_id"}
ACCESS_FIELDS = {"time", "trace_id", "client", "method", "path", "protocol", "route", "user_id", "status",
                 "request_time", "upstream_response_time", "upstream_addr", "bytes_sent", "body_bytes_sent",
                 "w3c_trace_id"}
ROUTE = "/v1/music/{organization_id}/collections/{collection_id}"


def worker_logs(stack):
    return sorted((stack.var / "log").glob("worker-*.log"))


def worker_record(stack, trace_id):
    """The request line of `trace_id`, from whichever worker answered it."""
    def find():
        for path in worker_logs(stack):
            for record in records(path):
                if record.get("trace_id") == trace_id and record.get("message") == "request":
                    return record
        return None
    logs_caught_up(stack)
    record = find()
    assert record is not None, f"{trace_id} is in no worker's log"
    return record


def access_record(stack, trace_id):
    return wait_for_record(stack.var / "log" / "nginx-access.log", lambda record: record["trace_id"] == trace_id)


def traceparent(rng):
    return f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64) | 1:016x}-01"


def test_a_request_is_one_json_line_in_each_log_with_the_fields(stack):
    rng = random.Random(110)
    key = own_key(stack)
    client = connection(stack, SOURCE)
    status, headers, body = call(client, "POST", f"/v1/music/{stack.org}/collections",
                                 {"X-API-Key": key, "Content-Type": "application/json"}, b'{"name": "logged"}')
    assert status == 201, body
    collection = json.loads(body)["id"]
    parent = traceparent(rng)
    status, headers, _ = call(client, "GET", f"/v1/music/{stack.org}/collections/{collection}",
                              {"X-API-Key": key, "traceparent": parent})
    client.close()
    assert status == 200
    trace_id = headers["X-Request-ID"]

    worker = worker_record(stack, trace_id)
    assert set(worker) == WORKER_REQUEST_FIELDS, worker
    assert TIME.match(worker["time"]), worker
    assert (worker["level"], worker["logger"], worker["message"]) == ("info", "music.api", "request")
    assert (worker["method"], worker["route"], worker["status"]) == ("GET", ROUTE, 200)
    assert isinstance(worker["duration_ms"], float) and worker["duration_ms"] >= 0
    assert worker["user_id"].startswith("usr_")
    assert worker["w3c_trace_id"] == parent.split("-")[1]

    access = access_record(stack, trace_id)
    assert set(access) == ACCESS_FIELDS, access
    assert TIME.match(access["time"]), access
    assert access["client"] == SOURCE
    assert (access["method"], access["path"], access["protocol"]) == \
        ("GET", f"/v1/music/{stack.org}/collections/{collection}", "HTTP/1.1")
    assert (access["route"], access["user_id"], access["status"]) == (ROUTE, worker["user_id"], 200)
    assert isinstance(access["request_time"], (int, float)) and access["request_time"] >= 0
    assert re.match(r"^\d+\.\d{3}$", access["upstream_response_time"]), access
    assert access["upstream_addr"].startswith("unix:") and access["upstream_addr"].endswith(".sock")
    assert access["bytes_sent"] > access["body_bytes_sent"] > 0
    assert access["w3c_trace_id"] == worker["w3c_trace_id"]


def test_every_line_of_the_logs_is_a_json_object(stack):
    logs_caught_up(stack)
    paths = [stack.var / "log" / "nginx-access.log", *worker_logs(stack)]
    assert len(paths) >= 2
    for path in paths:
        # Strict UTF-8: nginx's escape=json copies bytes above 0x7F as they come,
        # so a path that is not ASCII is logged as a placeholder (music-common.conf).
        # Newlines only: str.splitlines would also split on U+2028 and U+0085,
        # which JSON allows unescaped in a string.
        lines = [line for line in path.read_bytes().decode("utf-8").split("\n") if line]
        assert lines, path
        for number, line in enumerate(lines, 1):
            record = json.loads(line)  # raises on a line that is not JSON
            assert isinstance(record, dict) and TIME.match(record["time"]), (path, number, line)
        if path.name.startswith("worker-"):
            assert any(json.loads(line).get("message") == "store opened" for line in lines), path


def test_nginx_errors_and_unrouted_paths_log_empty_worker_fields(stack):
    client = connection(stack, SOURCE)
    status, headers, _ = call(client, "GET", "/v1/music/no/such/route/at-all")
    assert status == 404
    worker_404 = headers["X-Request-ID"]
    status, headers, _ = call(client, "GET", "/v1/music//health")  # nginx refuses it: no worker involved
    assert status == 400
    nginx_404 = headers["X-Request-ID"]
    client.close()
    assert worker_record(stack, worker_404)["route"] is None
    unrouted = access_record(stack, worker_404)
    assert (unrouted["route"], unrouted["user_id"], unrouted["status"]) == ("", "", 404)
    assert unrouted["upstream_addr"].startswith("unix:")
    answered = access_record(stack, nginx_404)
    assert (answered["route"], answered["upstream_addr"], answered["upstream_response_time"]) == ("", "", "")
    assert (answered["status"], answered["path"]) == (400, "/v1/music/health")


def test_the_client_never_sees_the_fields_the_worker_hands_nginx(stack):
    key = own_key(stack)
    paths = [f"/v1/music/{stack.org}/collections", f"/v1/music/{stack.org}/tracks?limit=1", "/v1/music/health",
             f"/v1/music/{stack.org}/collections/col_missing"]
    for make in (connection, tls_connection):
        client = make(stack, SOURCE)
        for path in paths:
            status, headers, _ = call(client, "GET", path, {"X-API-Key": key})
            assert status in (200, 404), (path, status)
            assert not [name for name in headers if name.lower().startswith("x-music-")], (path, headers.items())
        client.close()
    # HTTP/2 over TLS, through curl.
    result = subprocess.run(["curl", "-s", "--http2", "--cacert", stack.cert, "--interface", SOURCE, "-D", "-",
                             "-o", "/dev/null", "-H", f"X-API-Key: {key}", f"{stack.api}/collections"],
                            capture_output=True, text=True, timeout=20, check=True)
    assert result.stdout.startswith("HTTP/2 200"), result.stdout
    assert "x-music-" not in result.stdout.lower(), result.stdout


def test_no_key_token_query_string_or_body_in_either_log(stack):
    rng = random.Random(111)
    secret = lambda name: f"{name}{rng.getrandbits(64):016x}"
    key = own_key(stack)
    body_marker, query_marker, bearer_garbage = secret("body"), secret("query"), secret("mk_bad")
    client = connection(stack, SOURCE)
    status, _, body = call(client, "POST", f"/v1/music/{stack.org}/collections",
                           {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                           json.dumps({"name": body_marker}).encode())
    assert status == 201, body
    collection = json.loads(body)["id"]
    # A body the worker refuses.
    assert call(client, "POST", f"/v1/music/{stack.org}/collections",
                {"X-API-Key": key, "Content-Type": "application/json"},
                json.dumps({"name": 7, "note": body_marker}).encode())[0] == 422
    assert call(client, "GET", f"/v1/music/{stack.org}/collections?limit=2&{query_marker}=1",
                {"X-API-Key": key})[0] == 200
    assert call(client, "GET", f"/v1/music/{stack.org}/collections?{query_marker}", {"X-API-Key": bearer_garbage})[0] == 401
    assert call(client, "GET", f"/v1/music/{stack.org}/collections", {"Authorization": f"Bearer {bearer_garbage}"})[0] == 401
    status, _, body = call(client, "POST", f"/v1/music/{stack.org}/collections/{collection}/share",
                           {"X-API-Key": key, "Content-Type": "application/json"}, b"{}")
    assert status == 201, body
    token = json.loads(body)["token"]
    shared = {}
    for path in (f"/v1/music/shared/{token}", f"/v1/music/shared/{token}?limit=1&{query_marker}=2",
                 f"/v1/music/%73hared/{token}", f"/v1/music/shared/{token}/x"):
        status, headers, _ = call(client, "GET", path)
        assert status == (404 if path.endswith("/x") else 200), path
        shared[headers["X-Request-ID"]] = status
    client.close()

    logs_caught_up(stack)
    for path in (stack.var / "log").iterdir():
        text = path.read_text(errors="replace")
        for value in (key, bearer_garbage, token, body_marker, query_marker):
            assert value not in text, (path, value[:8])
    logged = {record["trace_id"]: record for record in records(stack.var / "log" / "nginx-access.log")
              if record["trace_id"] in shared}
    assert len(logged) == len(shared)
    for trace_id, record in logged.items():
        assert record["path"] == "/v1/music/shared/[token]", record
        assert record["route"] == ("/v1/music/shared/{token}" if shared[trace_id] == 200 else ""), record


def test_a_well_formed_traceparent_is_logged_and_a_malformed_one_is_not(stack):
    rng = random.Random(112)
    good = traceparent(rng)
    trace = lambda: f"{rng.getrandbits(128):032x}"
    malformed = [
        f"01-{trace()}-00f067aa0ba902b7-01",            # another version
        f"00-{trace().upper()}-00f067aa0ba902b7-01",    # uppercase
        "00-" + "0" * 32 + "-00f067aa0ba902b7-01",      # all-zero trace-id
        f"00-{trace()}-{'0' * 16}-01",                 # all-zero parent-id
        f"00-{trace()}-00f067aa0ba902b7-01-extra",      # more after a version-00 value
        f"00-{trace()[:31]}-00f067aa0ba902b7-01",       # short trace-id
        f"00-{trace()}-00f067aa0ba902b7",               # no flags
        f'00-{trace()[:30]}"x-00f067aa0ba902b7-01',     # a quote
    ]
    client = connection(stack, SOURCE)
    traced = {}
    for value in [good, *malformed]:
        status, headers, _ = call(client, "GET", "/v1/music/health", {"traceparent": value})
        assert status == 200
        traced[headers["X-Request-ID"]] = value
    client.close()
    for trace_id, value in traced.items():
        worker, access = worker_record(stack, trace_id), access_record(stack, trace_id)
        if value == good:
            assert worker["w3c_trace_id"] == access["w3c_trace_id"] == good.split("-")[1]
        else:
            assert (worker["w3c_trace_id"], access["w3c_trace_id"]) == (None, ""), value
    logs = "".join(path.read_text(errors="replace") for path in (stack.var / "log").iterdir())
    for value in malformed:
        trace_part = value.split("-")[1].lower()
        if trace_part.strip("0"):
            assert trace_part not in logs.lower(), value


def test_a_path_that_is_not_utf8_and_a_refused_post_log_valid_json_with_the_client_method(stack):
    client = connection(stack, SOURCE)
    status, headers, _ = call(client, "GET", "/v1/music/%FF%FE/collections")
    not_utf8 = headers["X-Request-ID"]
    client.close()
    client = connection(stack, SOURCE)
    # Over the 1 MiB cap: nginx answers 413 itself, through an error page.
    status, headers, _ = call(client, "POST", "/v1/music/org_x/collections", body=b"",
                              headers={"Content-Type": "application/json", "Content-Length": str(2 * 1024 * 1024)})
    assert status == 413
    refused = headers["X-Request-ID"]
    client.close()
    assert access_record(stack, not_utf8)["path"] == "[not ASCII]"
    assert access_record(stack, refused)["method"] == "POST"
    logs_caught_up(stack)
    (stack.var / "log" / "nginx-access.log").read_bytes().decode("utf-8")  # raises on bytes that are not UTF-8
