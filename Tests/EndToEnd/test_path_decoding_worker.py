"""nginx and the worker read a path the same way: dot segments and encoded
slashes are refused with the JSON envelope, a percent-encoded spelling of the
shared view is served as the shared view, and no log file holds its token."""
import time

import requests


def envelope(response):
    body = response.json()
    assert body["success"] is False, response.text
    return body["error"]["code"]


def wait_for_logs(stack, trace_ids, deadline_seconds=10):
    """Until every trace id is in the worker's log and nginx's access log (both are
    flushed in batches: every 200 ms and every second)."""
    deadline = time.monotonic() + deadline_seconds
    logs = stack.var / "log"
    while True:
        workers = "".join(path.read_text(errors="replace") for path in logs.glob("worker-*.log"))
        access = (logs / "nginx-access.log").read_text(errors="replace")
        if all(trace in workers and trace in access for trace in trace_ids):
            return
        assert time.monotonic() < deadline, f"{trace_ids} not logged within {deadline_seconds} s"
        time.sleep(0.1)


def test_dot_segments_and_encoded_slashes_are_refused(stack):
    key = {"X-API-Key": stack.key}
    for path in (f"/v1/music/{stack.org}/tracks/%2F..%2F..%2Fshared%2Fx",
                 f"/v1/music/{stack.org}/collections/%2e%2e/x",
                 f"/v1/music/{stack.org}/collections/%2E%2e/tracks",
                 f"/v1/music/{stack.org}/tracks/a%5Cb"):
        # requests would resolve dot segments itself: send the path as written.
        session = requests.Session()
        request = requests.Request("GET", stack.https + path, headers=key).prepare()
        request.url = stack.https + path
        response = session.send(request, verify=stack.cert)
        assert response.status_code in (400, 404), (path, response.status_code, response.text)
        assert envelope(response) in ("BAD_REQUEST", "RESOURCE_NOT_FOUND"), path


def test_encoded_shared_path_is_the_shared_view_and_its_token_is_in_no_log(stack):
    key = {"X-API-Key": stack.key}
    created = requests.post(f"{stack.api}/collections", headers=key, json={"name": "Spelled"}, verify=stack.cert)
    assert created.status_code == 201, created.text
    collection = f"{stack.api}/collections/{created.json()['id']}"
    requests.post(f"{collection}/tracks", headers=key, json={"track_id": stack.tracks[0]}, verify=stack.cert)
    link = requests.post(f"{collection}/share", headers=key, json={}, verify=stack.cert).json()
    token = link["token"]

    traces = []
    for path in (f"/v1/music/%73hared/{token}", f"/v1/music/%73%68%61%72%65%64/{token}", f"/v1/%6Dusic/shared/{token}"):
        view = requests.get(stack.https + path, verify=stack.cert)
        assert view.status_code == 200, (path, view.text)
        assert [track["id"] for track in view.json()["tracks"]] == [stack.tracks[0]]
        traces.append(view.headers["X-Request-ID"])
    paged = requests.get(f"{stack.https}/v1/music/%73hared/{token}?limit=1&offset=0", verify=stack.cert)
    assert paged.status_code == 200 and paged.json()["limit"] == 1
    traces.append(paged.headers["X-Request-ID"])

    wait_for_logs(stack, traces)
    for path in (stack.var / "log").iterdir():
        assert token not in path.read_text(errors="replace"), path
