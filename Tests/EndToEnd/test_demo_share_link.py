"""deploy/up's demo share link (deploy/print-demo): printed on every start, the same
link each time (no new link per start), renewed only once it no longer opens or
its collection was deleted; it opens as JSON for curl and as a page for a browser."""
import json
import pathlib
import sqlite3
import subprocess

import requests

PRINT_DEMO = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "print-demo"


def print_demo(stack):
    """deploy/print-demo as deploy/up runs it: (its output, the recorded state)."""
    result = subprocess.run([str(PRINT_DEMO), str(stack.var / "demo.json"), stack.https, stack.http],
                            capture_output=True, text=True, timeout=60, check=True)
    assert "warning" not in result.stderr, result.stderr
    return result.stdout, json.loads((stack.var / "demo-share.json").read_text())


def share_links(stack):
    database = sqlite3.connect(f"file:{stack.var / 'music.sqlite'}?mode=ro", uri=True, timeout=10)
    try:
        return database.execute("SELECT count(*) FROM share_links WHERE organization_id = ?", (stack.org,)).fetchone()[0]
    finally:
        database.close()


def opens(stack, url, accept):
    return requests.get(url, headers={"Accept": accept}, verify=stack.cert, timeout=10)


def test_demo_link_is_printed_once_made_and_renewed_only_when_it_stops_opening(stack):
    state_file = stack.var / "demo-share.json"
    # deploy/up made it; the file holds a token, so it is the owner's alone.
    assert state_file.stat().st_mode & 0o777 == 0o600
    output, state = print_demo(stack)
    url = state["url"]
    assert url.startswith(f"{stack.https}/v1/music/shared/")
    assert f"\n  {url}\n" in output and f"curl -k {url}" in output
    assert "opens as a page in a browser" in output and "as JSON with curl" in output

    view = opens(stack, url, "application/json")
    assert view.status_code == 200 and view.json()["available"] is True
    assert view.json()["collection"]["id"] == state["collection_id"]
    assert len(view.json()["tracks"]) > 0
    page = opens(stack, url, "text/html,application/xhtml+xml,*/*;q=0.8")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")

    # Another start: the same link, and no new one in the database.
    links = share_links(stack)
    again, same = print_demo(stack)
    assert same == state and f"\n  {url}\n" in again
    assert share_links(stack) == links

    # Revoked: a new link to the same collection.
    assert requests.delete(f"{stack.api}/share/{state['share_id']}", headers={"X-API-Key": stack.key},
                           verify=stack.cert, timeout=10).status_code == 200
    _, renewed = print_demo(stack)
    assert renewed["collection_id"] == state["collection_id"] and renewed["url"] != url
    assert opens(stack, url, "application/json").status_code == 404
    assert opens(stack, renewed["url"], "application/json").json()["available"] is True
    assert share_links(stack) == links + 1

    # The collection deleted: a new collection and link.
    assert requests.delete(f"{stack.api}/collections/{state['collection_id']}", headers={"X-API-Key": stack.key},
                           verify=stack.cert, timeout=10).status_code == 200
    _, fresh = print_demo(stack)
    assert fresh["collection_id"] != state["collection_id"] and fresh["url"] != renewed["url"]
    assert opens(stack, fresh["url"], "application/json").json()["available"] is True
