"""docs/api.md's error table and the reference examples, through nginx."""
import concurrent.futures
import os
import subprocess

import requests


def new_key(stack, org, capabilities=("USE_MUSIC_GENERATION",), email=None):
    flags = [item for capability in capabilities for item in ("--capability", capability)]
    user = stack.admin("user", "create", "--org", org, "--email", email or f"{os.urandom(4).hex()}@e2e.test", *flags)
    return stack.admin("key", "create", "--user", user["id"])


def error_of(response, status):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status
    assert error["trace_id"] == response.headers["X-Request-ID"]
    return error


def test_every_reachable_row_of_the_error_table(stack):
    get = lambda url, **kw: requests.get(url, verify=stack.cert, **kw)
    key = {"X-API-Key": stack.key}
    collections = f"{stack.api}/collections"
    assert error_of(get(collections), 401)["code"] == "AUTHENTICATION_REQUIRED"
    assert error_of(get(collections, headers={"X-API-Key": "ak_nope"}), 401)["code"] == "INVALID_API_KEY"
    revoked = new_key(stack, stack.org)
    stack.admin("key", "revoke", revoked["id"])
    assert error_of(get(collections, headers={"X-API-Key": revoked["key"]}), 401)["code"] == "API_KEY_DEACTIVATED"
    other_org = stack.admin("org", "create", "--name", "Elsewhere")
    outsider = new_key(stack, other_org["id"])
    assert error_of(get(collections, headers={"X-API-Key": outsider["key"]}), 403)["code"] == "ORGANIZATION_ACCESS_DENIED"
    member = new_key(stack, stack.org, capabilities=())
    denied = error_of(get(collections, headers={"X-API-Key": member["key"]}), 403)
    assert (denied["code"], denied["system_message"]) == ("INSUFFICIENT_PERMISSIONS", "Missing USE_MUSIC_GENERATION capability")
    assert error_of(get(f"{collections}/mcoll_000000000000", headers=key), 404)["code"] == "RESOURCE_NOT_FOUND"
    assert error_of(requests.put(collections, headers=key, verify=stack.cert), 405)["code"] == "METHOD_NOT_ALLOWED"

    created = requests.post(collections, headers=key, json={"name": "Table"}, verify=stack.cert)
    stale = created.headers["ETag"]
    url = f"{stack.https}{created.headers['Location']}"
    assert requests.patch(url, headers=key, json={"name": "Moved"}, verify=stack.cert).status_code == 200
    assert error_of(requests.patch(url, headers={**key, "If-Match": stale}, json={"name": "x"}, verify=stack.cert), 412)["code"] == "PRECONDITION_FAILED"
    assert error_of(requests.post(collections, headers=key, data=b"x" * ((1 << 20) + 1), verify=stack.cert), 413)["code"] == "PAYLOAD_TOO_LARGE"
    assert error_of(requests.post(collections, headers={**key, "Content-Type": "text/plain"}, data="name", verify=stack.cert), 415)["code"] == "UNSUPPORTED_MEDIA_TYPE"
    invalid = error_of(requests.post(collections, headers=key, json={"name": "x" * 513}, verify=stack.cert), 422)
    assert (invalid["code"], invalid["details"]) == ("VALIDATION_ERROR", {"field": "name"})
    malformed = error_of(requests.post(collections, headers={**key, "Content-Type": "application/json"}, data="{", verify=stack.cert), 422)
    assert malformed["details"] == {"field": "body"}


def test_rate_limit_answers_429_envelope_with_retry_after(stack):
    burst = new_key(stack, stack.org)
    url = f"{stack.api}/collections?limit=1"
    with requests.Session() as session:
        def call(_):
            response = session.get(url, headers={"X-API-Key": burst["key"]}, verify=stack.cert)
            return response.status_code, response
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(call, range(int(os.environ["MUSIC_RATE_BURST"]) * 3)))
    statuses = [status for status, _ in answers]
    assert statuses.count(200) > 0
    limited = [response for status, response in answers if status == 429]
    assert limited, statuses
    error = error_of(limited[0], 429)
    assert (error["code"], error["type"]) == ("RATE_LIMIT_EXCEEDED", "rate_limit_error")
    assert limited[0].headers["Retry-After"] == "1"
    # Other keys are not affected.
    assert requests.get(url, headers={"X-API-Key": stack.key}, verify=stack.cert).status_code == 200


def test_reference_examples_work_against_the_local_stack(stack, tmp_path):
    """The published examples (Python requests, JavaScript fetch), pointed at the local
    URL with the demo key, organization and track ids."""
    created = requests.post(f"{stack.api}/collections", headers={"X-API-Key": stack.key},
                            json={"name": "For the examples"}, verify=stack.cert).json()
    env = dict(os.environ, FREDDY_API_KEY=stack.key, REQUESTS_CA_BUNDLE=stack.cert, NODE_EXTRA_CA_CERTS=stack.cert)

    def localize(code):
        return (code.replace("https://api.aitronos.com", stack.https).replace("org_abc123", stack.org)
                .replace("mcoll_4a1f9c7e2b8d", created["id"]).replace("mtrack_8d2e1f6a3c9b", stack.tracks[4]))

    python_create = localize('''import os
import requests

api_key = os.environ["FREDDY_API_KEY"]

response = requests.post(
    "https://api.aitronos.com/v1/music/org_abc123/collections",
    headers={"X-API-Key": api_key},
    json={
        "name": "Focus Sessions",
        "description": "Instrumental tracks for deep work",
    },
)

print(response.json()["id"])
''')
    output = subprocess.run(["python3", "-c", python_create], env=env, capture_output=True, text=True, check=True).stdout
    assert output.startswith("mcoll_") and len(output.strip()) == 18

    python_add = localize('''import os
import requests

api_key = os.environ["FREDDY_API_KEY"]

response = requests.post(
    "https://api.aitronos.com/v1/music/org_abc123/collections/mcoll_4a1f9c7e2b8d/tracks",
    headers={"X-API-Key": api_key},
    json={"track_id": "mtrack_8d2e1f6a3c9b"},
)

print(response.json()["detail"])
''')
    output = subprocess.run(["python3", "-c", python_add], env=env, capture_output=True, text=True, check=True).stdout
    assert output == "Track added to collection.\n"

    javascript_add = tmp_path / "add.mjs"
    javascript_add.write_text(localize('''const apiKey = process.env.FREDDY_API_KEY;

const response = await fetch('https://api.aitronos.com/v1/music/org_abc123/collections/mcoll_4a1f9c7e2b8d/tracks', {
  method: 'POST',
  headers: {
    'X-API-Key': apiKey,
    'Content-Type': 'application/json',
  },
  body: JSON.stringify({ track_id: 'mtrack_8d2e1f6a3c9b' }),
});

const ack = await response.json();
console.log(ack.detail);
'''))
    output = subprocess.run(["node", str(javascript_add)], env=env, capture_output=True, text=True, check=True).stdout
    assert output == "Track already in collection.\n"

    javascript_create = tmp_path / "create.mjs"
    javascript_create.write_text(localize('''const apiKey = process.env.FREDDY_API_KEY;

const response = await fetch('https://api.aitronos.com/v1/music/org_abc123/collections', {
  method: 'POST',
  headers: {
    'X-API-Key': apiKey,
    'Content-Type': 'application/json',
  },
  body: JSON.stringify({
    name: 'Focus Sessions',
    description: 'Instrumental tracks for deep work',
  }),
});

const collection = await response.json();
console.log(collection.id);
'''))
    output = subprocess.run(["node", str(javascript_create)], env=env, capture_output=True, text=True, check=True).stdout
    assert output.startswith("mcoll_")


def test_track_import_is_all_or_none_and_names_the_bad_line(stack, tmp_path):
    owner = stack.admin("user", "create", "--org", stack.org, "--email", "importer@e2e.test",
                  "--capability", "USE_MUSIC_GENERATION")
    good = tmp_path / "good.jsonl"
    good.write_text('{"title": "One", "duration": 1}\n\n{"title": "Two", "duration": 181.5, "instrumental": true, '
                    '"licence_class": "premium"}\n')
    result = stack.admin("track", "import", "--org", stack.org, "--owner", owner["id"], str(good))
    assert result["imported"] == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "Fine"}\n{"title": "Also fine", "instrumental": 1}\n{"title": 5}\n')
    before = subprocess.run(["sqlite3", str(stack.var / "music.sqlite"), "SELECT count(*) FROM tracks"],
                            capture_output=True, text=True, check=True).stdout
    failed = subprocess.run([os.path.join(os.environ["MUSIC_BIN_DIR"], "music-admin"), "track", "import",
                             "--db", str(stack.var / "music.sqlite"), "--org", stack.org, "--owner", owner["id"], str(bad)],
                            capture_output=True, text=True)
    assert failed.returncode != 0
    assert "line 2: instrumental must be true or false" in failed.stderr
    after = subprocess.run(["sqlite3", str(stack.var / "music.sqlite"), "SELECT count(*) FROM tracks"],
                           capture_output=True, text=True, check=True).stdout
    assert before == after


def test_openapi_document_is_valid_and_served_without_a_key(stack):
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename
    path = os.path.join(os.path.dirname(__file__), "..", "..", "openapi.yaml")
    spec, _ = read_from_filename(path)
    validate(spec)
    served = requests.get(f"{stack.https}/v1/music/openapi.yaml", verify=stack.cert)
    assert served.status_code == 200
    assert served.headers["Content-Type"].startswith("application/yaml")
    assert served.content == open(path, "rb").read()


def test_every_route_is_in_the_openapi_document():
    """Each operation the router knows is documented, and nothing else is."""
    import yaml
    path = os.path.join(os.path.dirname(__file__), "..", "..", "openapi.yaml")
    spec = yaml.safe_load(open(path))
    documented = {(method.upper(), route) for route, item in spec["paths"].items()
                  for method in item if method in {"get", "post", "patch", "delete", "put"}}
    router = open(os.path.join(os.path.dirname(__file__), "..", "..", "Sources", "MusicAPI", "Router", "Router.swift")).read()
    import re
    implemented = set()
    # Each entry: Route("PATTERN", [ .open|.read|.write(.METHOD, "operationId"...) ... ]).
    for entry in router.split('Route("')[1:]:
        pattern = entry.split('"', 1)[0]
        for method in re.findall(r"\.(?:open|read|write)\(\.(\w+),", entry):
            implemented.add((method.upper(), pattern))
    assert len(implemented) >= 16
    assert documented == implemented
