"""Share links and tracks through nginx: a shared collection opens with curl and no
key, shows its tracks in order, stops opening once revoked; tokens stay out of logs."""
import concurrent.futures

import requests

from log_wait import logs_caught_up


def test_shared_collection_opens_without_a_key_until_revoked(stack):
    key = {"X-API-Key": stack.key}
    created = requests.post(f"{stack.api}/collections", headers=key, json={"name": "Shared mix"}, verify=stack.cert).json()
    collection = f"{stack.api}/collections/{created['id']}"
    for track in reversed(stack.tracks[:3]):
        requests.post(f"{collection}/tracks", headers=key, json={"track_id": track}, verify=stack.cert)
    link = requests.post(f"{collection}/share", headers=key, json={"visibility": "public", "expires_in_days": 7},
                         verify=stack.cert)
    assert link.status_code == 201, link.text
    link = link.json()
    assert link["url"] == f"{stack.https}/v1/music/shared/{link['token']}"

    status, view = stack.curl(link["url"])
    assert status == 200
    assert view["available"] is True and view["share"]["visibility"] == "public"
    assert [track["id"] for track in view["tracks"]] == list(reversed(stack.tracks[:3]))

    status, ack = stack.curl("-X", "DELETE", "-H", f"X-API-Key: {stack.key}", f"{stack.api}/share/{link['id']}")
    assert (status, ack["detail"]) == (200, "Share link revoked.")
    status, gone = stack.curl(link["url"])
    assert status == 404 and gone["error"]["code"] == "RESOURCE_NOT_FOUND"

    logs_caught_up(stack)
    for path in (stack.var / "log").iterdir():
        assert link["token"] not in path.read_text(errors="replace"), path


def test_tracks_read_side_through_nginx(stack):
    key = {"X-API-Key": stack.key}
    track = requests.get(f"{stack.api}/tracks/{stack.tracks[0]}", headers=key, verify=stack.cert)
    assert track.status_code == 200 and track.json()["id"] == stack.tracks[0]
    listing = requests.get(f"{stack.api}/tracks?limit=5", headers=key, verify=stack.cert).json()
    assert len(listing["items"]) == 5 and listing["limit"] == 5


def test_shared_views_are_rate_limited_per_address(stack):
    url = f"{stack.https}/v1/music/shared/{'A' * 43}"
    def fetch(_):
        response = requests.get(url, verify=stack.cert)
        return response.status_code, response.json(), response.headers
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(fetch, range(200)))
    statuses = [status for status, _, _ in answers]
    assert 404 in statuses and 429 in statuses, statuses
    _, envelope, headers = next(answer for answer in answers if answer[0] == 429)
    assert envelope["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert headers["Retry-After"] == "1"
