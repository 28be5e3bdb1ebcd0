"""nginx and the worker read a path alike: nginx matches its locations (rate-limit
zones, token masking) on the decoded, normalized path while the worker routes the
raw one, so a path they could read differently (an encoded slash or backslash, an
empty or dot segment) is refused at nginx with the 400 envelope, before any
location; what remains decodes the same way for both."""
import json

import requests

from edge_client import assert_envelope, call, connection, own_key
from log_wait import logs_caught_up

SOURCE = "127.0.0.51"


def test_paths_nginx_and_the_worker_could_read_differently_are_refused(stack):
    key = {"X-API-Key": own_key(stack)}
    org = f"/v1/music/{stack.org}"
    refused = [
        f"{org}/tracks/%2F..%2F..%2Fshared%2Fx", f"{org}/collections/../../shared/x",
        f"{org}/tracks/%2f..%2f..%2fshared%2fx", f"{org}/collections/%2e%2e/%2E%2E/shared/x",
        f"{org}/collections/./x", f"{org}/collections/.", f"{org}/collections/..", f"{org}/collections/%2e",
        f"{org}/collections/.%2E?limit=1", f"{org}/tracks/a%5Cb", f"{org}/tracks/a%5cb", f"{org}/tracks/a\\b",
        f"/v1/music//shared/{'C' * 43}", f"{org}//collections",
    ]
    client = connection(stack, SOURCE)
    for path in refused:
        status, headers, body = call(client, "GET", path, key)
        assert_envelope(status, headers, body, "BAD_REQUEST")
    # Dots that are no dot segment, and dot segments in the query, are not refused.
    for path in [f"{org}/tracks/a.b", f"{org}/tracks/...", f"{org}/tracks/.x", f"{org}/tracks/x?next=/../a%2Fb"]:
        status, headers, body = call(client, "GET", path, key)
        assert status == 404 and json.loads(body)["error"]["system_message"] != "Rejected by the proxy", path
    client.close()


def test_an_encoded_shared_path_is_the_shared_view_and_its_token_stays_out_of_the_logs(stack):
    key = {"X-API-Key": own_key(stack)}
    created = requests.post(f"{stack.api}/collections", headers=key, json={"name": "Encoded path"}, verify=stack.cert).json()
    requests.post(f"{stack.api}/collections/{created['id']}/tracks", headers=key, json={"track_id": stack.tracks[0]},
                  verify=stack.cert)
    link = requests.post(f"{stack.api}/collections/{created['id']}/share", headers=key, json={"visibility": "public"},
                         verify=stack.cert).json()
    token = link["token"]
    client = connection(stack, SOURCE)
    status, _, plain = call(client, "GET", f"/v1/music/shared/{token}")
    assert status == 200
    for path in [f"/v1/music/%73hared/{token}", f"/v1/music/sh%61red/{token}", f"/v1/music/%73%68%61%72%65%64/{token}"]:
        status, _, body = call(client, "GET", path)
        assert status == 200, (path, body[:300])
        assert json.loads(body) == json.loads(plain)
    client.close()
    logs_caught_up(stack)
    for path in (stack.var / "log").iterdir():
        assert token not in path.read_text(errors="replace"), path
