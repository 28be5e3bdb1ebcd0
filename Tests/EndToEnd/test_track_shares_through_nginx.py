"""Track shares and the configured public URL through nginx: a track's link opens
without a key in the reference shape, its url is the stack's public address
(deploy/lib.sh's MUSIC_PUBLIC_URL default) whatever Host the client names, and
music-fcgi refuses a public URL it cannot build links on."""
import json
import os
import pathlib
import subprocess

import jsonschema
import requests
import yaml

VIEW_KEYS = ["available", "collection", "kind", "message", "share", "track", "tracks"]


def test_track_share_opens_in_the_reference_shape_with_the_configured_url(stack):
    key = {"X-API-Key": stack.key}
    hostile = {**key, "Host": "evil.example", "X-Forwarded-Host": "evil.example", "Forwarded": "host=evil.example"}
    created = requests.post(f"{stack.api}/tracks/{stack.tracks[0]}/share", headers=hostile,
                            json={"visibility": "public"}, verify=stack.cert, timeout=10)
    assert created.status_code == 201, created.text
    link = created.json()
    assert link["target_type"] == "track"
    # MUSIC_PUBLIC_URL's default for the stack: its HTTPS address.
    assert link["url"] == f"{stack.https}/v1/music/shared/{link['token']}"
    assert "evil" not in created.text

    status, view = stack.curl(link["url"])
    assert status == 200
    assert sorted(view) == VIEW_KEYS
    assert (view["kind"], view["available"], view["message"]) == ("track", True, None)
    assert view["share"] == {"target_type": "track", "visibility": "public", "expires_at": None}
    assert (view["collection"], view["tracks"]) == (None, None)
    track = view["track"]
    assert track["id"] == stack.tracks[0] and track["playback_url"] is None
    assert sorted(track["licence"]) == ["commercial_use", "licence_class", "licence_version", "requires_attribution"]

    status, ack = stack.curl("-X", "DELETE", "-H", f"X-API-Key: {stack.key}", f"{stack.api}/share/{link['id']}")
    assert (status, ack["detail"]) == (200, "Share link revoked.")
    status, gone = stack.curl(link["url"])
    assert status == 404 and gone["error"]["code"] == "RESOURCE_NOT_FOUND"


def test_collection_share_url_ignores_the_host_too(stack):
    key = {"X-API-Key": stack.key}
    created = requests.post(f"{stack.api}/collections", headers=key, json={"name": "Hosted"}, verify=stack.cert, timeout=10)
    assert created.status_code == 201, created.text
    link = requests.post(f"{stack.api}/collections/{created.json()['id']}/share",
                         headers={**key, "Host": "evil.example:1"}, verify=stack.cert, timeout=10).json()
    assert link["url"] == f"{stack.https}/v1/music/shared/{link['token']}"
    status, view = stack.curl(link["url"])
    assert status == 200 and sorted(view) == VIEW_KEYS and view["track"] is None


def test_music_fcgi_refuses_a_public_url_it_cannot_build_links_on():
    worker = os.path.join(os.environ["MUSIC_BIN_DIR"], "music-fcgi")
    environment = {key: value for key, value in os.environ.items() if key != "MUSIC_PUBLIC_URL"}
    for arguments, variable, named in ((["--public-url", "ftp://music.example.org"], None, "--public-url"),
                                       (["--public-url", "https://music.example.org/?x=1"], None, "--public-url"),
                                       ([], "https://user@music.example.org", "MUSIC_PUBLIC_URL"),
                                       ([], "music.example.org", "MUSIC_PUBLIC_URL")):
        env = dict(environment, **({"MUSIC_PUBLIC_URL": variable} if variable else {}))
        result = subprocess.run([worker, "--socket", "/nonexistent/never-created.sock", *arguments], env=env,
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
        assert result.returncode != 0, (arguments, variable)
        assert named in result.stderr and "public URL" in result.stderr, result.stderr


def test_every_shape_of_the_shared_view_is_what_openapi_yaml_says(stack):
    """schemathesis never holds a live token: the real answers of both kinds,
    available or not, paged or not, are checked against openapi.yaml here."""
    spec = yaml.safe_load((pathlib.Path(__file__).resolve().parents[2] / "openapi.yaml").read_text())
    validator = jsonschema.Draft202012Validator({"$ref": "#/components/schemas/SharedView", "components": spec["components"]})
    created_validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/ShareLinkCreated", "components": spec["components"]})
    key = {"X-API-Key": stack.key}
    owner = json.loads((stack.var / "demo.json").read_text())["user_id"]
    track = stack.admin("track", "create", "--org", stack.org, "--owner", owner, "--title", "Shaped <&>",
                        "--duration", "61.5", "--instrumental", "--licence-class", "cc_by", "--licence-version", "2.0")
    assert track["licence_version"] == "2.0"
    collection = requests.post(f"{stack.api}/collections", headers=key, json={"name": "Shapes"}, verify=stack.cert,
                               timeout=10).json()["id"]
    for track_id in (track["id"], stack.tracks[1]):
        added = requests.post(f"{stack.api}/collections/{collection}/tracks", headers=key, json={"track_id": track_id},
                              verify=stack.cert, timeout=10)
        assert added.status_code == 200, added.text
    links = {}
    for kind, path in (("collection", f"collections/{collection}/share"), ("track", f"tracks/{track['id']}/share")):
        answer = requests.post(f"{stack.api}/{path}", headers=key, json={"expires_in_days": 3}, verify=stack.cert, timeout=10)
        assert answer.status_code == 201, answer.text
        created_validator.validate(answer.json())
        links[kind] = answer.json()["url"]

    def checked(url, kind, available):
        status, view = stack.curl(url)
        assert status == 200
        validator.validate(view)
        assert (view["kind"], view["available"]) == (kind, available)
        return view

    view = checked(links["collection"], "collection", True)
    assert [entry["position"] for entry in view["tracks"]] == [0, 1]
    assert view["tracks"][0]["licence"] == {"licence_class": "cc_by", "licence_version": "2.0", "commercial_use": True,
                                            "requires_attribution": True}
    checked(links["collection"] + "?limit=1&offset=1", "collection", True)
    assert checked(links["track"], "track", True)["track"]["title"] == "Shaped <&>"

    stack.admin("track", "delete", track["id"])
    assert checked(links["track"], "track", False)["message"] == "This track is no longer available."
    assert requests.delete(f"{stack.api}/collections/{collection}", headers=key, verify=stack.cert, timeout=10).status_code == 200
    assert checked(links["collection"], "collection", False)["message"] == "This collection is no longer available."
    # A schema that took any kind would let a wrong shape through: it does not.
    wrong = dict(checked(links["collection"], "collection", False), track={"id": "x"})
    assert not validator.is_valid(wrong)
