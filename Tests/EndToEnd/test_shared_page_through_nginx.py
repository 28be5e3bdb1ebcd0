"""The shared link as a page, through nginx: a browser's Accept gets the HTML page
with its security headers each exactly once (the worker's and nginx's together),
anything else the JSON view, both with Vary: Accept; the stylesheet the page
links is the repository's file, served by nginx with a year's caching under a
URL versioned by its SHA-256. From a loopback address of its own (127.0.0.120),
so the per-address limits other tests meet stay untouched."""
import hashlib
import html.parser
import json
import pathlib
import urllib.parse

import requests

from edge_client import call, connection, tls_connection
from log_wait import logs_caught_up

SOURCE = "127.0.0.120"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
ROOT = pathlib.Path(__file__).resolve().parents[2]
CSP = ("default-src 'none'; style-src 'self'; img-src https: http:; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
HOSTILE = "<script>alert(1)</script> \"q\" 'a' & \"><img src=x onerror=alert(2)>"


class Links(html.parser.HTMLParser):
    """The stylesheet link and every tag name of a page."""
    def __init__(self):
        super().__init__()
        self.stylesheets, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "link" and attrs.get("rel") == "stylesheet":
            self.stylesheets.append(attrs["href"])


def shared_link(stack, visibility="link_only"):
    key = {"X-API-Key": stack.key}
    created = requests.post(f"{stack.api}/collections", headers=key, verify=stack.cert,
                            json={"name": HOSTILE, "description": HOSTILE}).json()
    collection = f"{stack.api}/collections/{created['id']}"
    for track in stack.tracks[:3]:
        requests.post(f"{collection}/tracks", headers=key, json={"track_id": track}, verify=stack.cert)
    link = requests.post(f"{collection}/share", headers=key, json={"visibility": visibility}, verify=stack.cert)
    assert link.status_code == 201, link.text
    return link.json()


def path_of(url):
    return urllib.parse.urlsplit(url).path


def once(headers, name):
    """The one value of field `name`; fails when it is missing or repeated."""
    values = headers.get_all(name) or []
    assert len(values) == 1, (name, values)
    return values[0]


def test_page_and_json_through_nginx_with_each_header_once(stack):
    link = shared_link(stack)
    path = path_of(link["url"])
    for tls, make in [(True, tls_connection), (False, connection)]:
        client = make(stack, SOURCE)
        try:
            status, headers, body = call(client, "GET", path, {"Accept": BROWSER})
            assert status == 200, body[:300]
            assert once(headers, "Content-Type") == "text/html; charset=utf-8"
            assert once(headers, "Content-Security-Policy") == CSP
            assert once(headers, "X-Content-Type-Options") == "nosniff"
            assert once(headers, "Referrer-Policy") == "no-referrer"
            assert once(headers, "Cache-Control") == "no-store"
            assert once(headers, "Vary") == "Accept"
            assert once(headers, "X-Robots-Tag") == "noindex"
            if tls:
                assert once(headers, "Strict-Transport-Security") == "max-age=31536000"
            # The worker's fields for the access log stay hidden.
            assert headers.get("X-Music-Route") is None and headers.get("X-Music-User") is None
            page = body.decode()
            assert HOSTILE not in page and "<script" not in page
            assert page.count(link["token"]) == 2  # <link rel="canonical"> and og:url
            parsed = Links()
            parsed.feed(page)
            assert "script" not in parsed.tags and parsed.tags.count("img") == 0 and parsed.tags.count("h1") == 1

            # Alternating representations on one connection: nothing in between mixes them up.
            for accept, media in [("*/*", "application/json"), (BROWSER, "text/html; charset=utf-8"),
                                  ("application/json", "application/json"), (None, "application/json"),
                                  ("text/html", "text/html; charset=utf-8")]:
                status, headers, body = call(client, "GET", path, {"Accept": accept} if accept else {})
                assert status == 200 and once(headers, "Content-Type") == media, accept
                assert once(headers, "Vary") == "Accept"
                assert once(headers, "X-Content-Type-Options") == "nosniff"
                if media == "application/json":
                    assert json.loads(body)["available"] is True

            # Not available: the page with the JSON view's 404, from the worker.
            gone = f"/v1/music/shared/{'A' * 43}"
            status, headers, body = call(client, "GET", gone, {"Accept": BROWSER})
            assert status == 404 and once(headers, "Content-Type") == "text/html; charset=utf-8"
            assert b'<h1 id="title">This link is not available</h1>' in body
            assert once(headers, "X-Content-Type-Options") == "nosniff" and once(headers, "Vary") == "Accept"
            status, headers, body = call(client, "GET", gone)
            assert status == 404 and json.loads(body)["error"]["code"] == "RESOURCE_NOT_FOUND"
            assert once(headers, "Vary") == "Accept"
        finally:
            client.close()

    logs_caught_up(stack)
    for log in (stack.var / "log").iterdir():
        assert link["token"] not in log.read_text(errors="replace"), log


def test_stylesheet_is_the_repository_file_cached_for_a_year(stack):
    link = shared_link(stack, "public")
    client = tls_connection(stack, SOURCE)
    try:
        status, headers, body = call(client, "GET", path_of(link["url"]), {"Accept": BROWSER})
        assert status == 200
        assert headers.get("X-Robots-Tag") is None and b"noindex" not in body
        parsed = Links()
        parsed.feed(body.decode())
        assert len(parsed.stylesheets) == 1, parsed.stylesheets
        # Relative to the page, so a path prefix in front of the API keeps it working.
        assert parsed.stylesheets[0].startswith("../shared-assets/"), parsed.stylesheets[0]
        stylesheet = urllib.parse.urljoin(path_of(link["url"]), parsed.stylesheets[0])
        href = urllib.parse.urlsplit(stylesheet)
        assert href.path == "/v1/music/shared-assets/shared-page.css"

        status, headers, css = call(client, "GET", stylesheet)
        assert status == 200
        assert css == (ROOT / "nginx" / "static" / "shared-page.css").read_bytes()
        # The version in the page's link is the served file's SHA-256: a changed file is a new URL.
        assert urllib.parse.parse_qs(href.query) == {"v": [hashlib.sha256(css).hexdigest()]}
        assert once(headers, "Content-Type") == "text/css; charset=utf-8"
        assert once(headers, "Cache-Control") == "public, max-age=31536000, immutable"
        assert once(headers, "X-Content-Type-Options") == "nosniff"
        assert once(headers, "Strict-Transport-Security") == "max-age=31536000"

        status, headers, head_body = call(client, "HEAD", stylesheet)
        assert status == 200 and head_body == b""
        assert once(headers, "Cache-Control") == "public, max-age=31536000, immutable"
        # Another version (a page of another release): the file, but not pinned for a year.
        status, headers, _ = call(client, "GET", href.path + "?v=" + "0" * 64)
        assert status == 200 and once(headers, "Cache-Control") == "no-cache"
        status, headers, _ = call(client, "GET", href.path)
        assert status == 200 and once(headers, "Cache-Control") == "no-cache"
        # Other methods, and other files under the folder's path: the 404 envelope, never cached.
        for method, path in [("POST", stylesheet), ("GET", "/v1/music/shared-assets/shared-page.css.bak")]:
            status, headers, body = call(client, method, path, {"Content-Length": "0"} if method == "POST" else {})
            assert status in (401, 404), (method, path, status)
            assert headers["Content-Type"].startswith("application/json")
            assert "immutable" not in (headers.get("Cache-Control") or "")
    finally:
        client.close()


def test_favicon_is_no_content(stack):
    """Browsers ask for /favicon.ico when they open a shared page: nginx answers
    204 itself (the page names no icon), not a 404 each browser logs as an error."""
    client = tls_connection(stack, SOURCE)
    try:
        status, headers, body = call(client, "GET", "/favicon.ico", {"Accept": "image/avif,image/webp,*/*;q=0.8"})
        assert (status, body) == (204, b"")
        assert once(headers, "X-Content-Type-Options") == "nosniff"
    finally:
        client.close()
