"""The shared page in a real browser: headless Chromium (Debian's package), driven
over the DevTools protocol (cdp.py), opens share links through nginx over HTTPS.

It checks what a person sees: the collection's name, description and tracks in
order (durations m:ss, instrumental marks) as the JSON view lists them, text
full of markup shown literally and never run, no horizontal scrolling on a phone,
the stylesheet from nginx applied, no console error and no Content-Security-Policy
violation; the track page, paging links, and the pages of a revoked link and a
deleted collection. Screenshots at phone and desktop widths are written to the
checkout's var/screenshots/ (deploy/test removes the stack's own var folder)."""
import http.server
import pathlib
import re
import ssl
import struct
import threading
import zlib

import pytest
import requests

import cdp

CHECKOUT = pathlib.Path(__file__).resolve().parents[2]
SCREENSHOTS = CHECKOUT / "var" / "screenshots"
PHONE = (360, 740)
DESKTOP = (1280, 900)
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

# Markup that would run if the page ever wrote a value unescaped; the page's CSP
# (no script) is a second wall, and would report a violation.
XSS_NAME = '<img src=x onerror="window.__xss=1">'
XSS_DESCRIPTION = '<script>window.__xss=1</script></p><p id="injected">"quotes" & \'apostrophes\' &amp; &lt;b&gt;'
# One word longer than a phone is wide: it must wrap, not widen the page.
LONG_WORD = "Supercalifragilistic" * 12


@pytest.fixture(scope="module")
def browser():
    chromium = cdp.Browser()
    yield chromium
    chromium.close()


def png(width, height):
    """A small opaque PNG (the collection's cover)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + bytes((40, 90, 160)) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def cover_url(stack):
    """An HTTPS server on loopback (the stack's certificate) serving the cover
    image, as an image host outside the service would."""
    image = png(64, 64)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(image)))
            self.end_headers()
            self.wfile.write(image)

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(stack.var / "tls" / "cert.pem", stack.var / "tls" / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/covers/cover.png"
    server.shutdown()
    server.server_close()
    thread.join(10)


# --- the API side ---

def api(stack, method, path, body=None):
    response = requests.request(method, f"{stack.api}{path}", headers={"X-API-Key": stack.key}, json=body,
                                verify=stack.cert, timeout=10)
    assert response.status_code in (200, 201), (method, path, response.status_code, response.text)
    return response.json()


def shared_collection(stack, body, tracks):
    collection = api(stack, "POST", "/collections", body)["id"]
    for track in tracks:
        api(stack, "POST", f"/collections/{collection}/tracks", {"track_id": track})
    link = api(stack, "POST", f"/collections/{collection}/share", {"visibility": "link_only"})
    return collection, link


def json_view(stack, url):
    response = requests.get(url, headers={"Accept": "application/json"}, verify=stack.cert, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def minutes(seconds):
    # Half a second up, as the page's Double.rounded() (Python's round() goes to even).
    whole = int(seconds + 0.5)
    return f"{whole // 60}:{whole % 60:02d}"


# --- the browser side ---

def open_page(browser, url, size, mobile=False, expect_status=200):
    page = browser.page(*size, mobile=mobile)
    response = page.open(url)
    assert response["status"] == expect_status, response["status"]
    assert response["mimeType"] == "text/html"
    # Without a policy, "no CSP violation" would prove nothing.
    assert any(name.lower() == "content-security-policy" for name in response["headers"])
    return page


def assert_clean(page, own_failure=None):
    """No console error, uncaught exception or failed load, no CSP violation,
    nothing of the page's values run as script. `own_failure`: the page's URL
    when its own status is an error (a 404 page), which Chromium logs as a
    failed load; nothing else may fail."""
    def excused(error):
        if not error.startswith("log (network):"):
            return False
        return own_failure is not None and error.endswith(" " + own_failure)
    # A failure names the link's address; its token is left out of the report.
    errors = [re.sub(r"/v1/music/shared/[A-Za-z0-9_-]+", "/v1/music/shared/<token>", error)
              for error in page.console_errors() if not excused(error)]
    assert errors == []
    assert page.csp_violations() == []
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.evaluate("document.scripts.length") == 0


def assert_stylesheet_applied(page):
    """The one stylesheet came from nginx's shared-assets path (200, cached for
    long) and changes how the page looks: the body's computed style differs
    with the sheet disabled."""
    # cssRules throws for a sheet that did not load from this origin.
    sheets = page.evaluate("""[...document.styleSheets].map(s => ({href: s.href,
        rules: (() => { try { return s.cssRules.length; } catch (e) { return -1; } })()}))""")
    assert len(sheets) == 1 and "/v1/music/shared-assets/" in sheets[0]["href"], sheets
    assert sheets[0]["rules"] > 0
    loads = [(status, headers) for url, status, headers in page.responses() if url == sheets[0]["href"]]
    assert loads and loads[0][0] == 200, loads
    cache = {name.lower(): value for name, value in loads[0][1].items()}.get("cache-control", "")
    assert "max-age=" in cache and int(cache.split("max-age=")[1].split(",")[0]) >= 86400 * 30, cache
    # The page is laid out again with the sheet back on, and a frame drawn,
    # before the answer: nothing later (a screenshot) sees the unstyled layout.
    styled, unstyled = page.evaluate("""(async () => {
        const style = () => { const s = getComputedStyle(document.body);
                              return [...s].map(name => name + ':' + s.getPropertyValue(name)).join(';'); };
        const sheet = document.styleSheets[0], on = style();
        sheet.disabled = true; const off = style(); sheet.disabled = false;
        document.documentElement.scrollWidth;
        await new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)));
        return [on, off];
    })()""")
    assert styled != unstyled


def screenshot(page, name, width):
    path = page.screenshot(SCREENSHOTS / f"{name}-{width}.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    shot_width, shot_height = struct.unpack(">II", data[16:24])
    # As wide as the viewport: nothing stuck out sideways.
    assert shot_width == width and shot_height > 0
    return path


def page_tracks(page):
    return page.evaluate("""[...document.querySelectorAll('#tracks > li.track')].map(li => ({
        position: Number(li.dataset.position),
        title: li.querySelector('.track-title').textContent,
        duration: li.querySelector('.track-duration').textContent,
        instrumental: [...li.querySelectorAll('.track-instrumental')].map(e => e.textContent),
    }))""")


def expected_tracks(view):
    return [{"position": track["position"], "title": track["title"],
             "duration": minutes(track["measured_duration_seconds"]),
             "instrumental": ["Instrumental"] if track["instrumental"] else []}
            for track in view["tracks"]]


# --- tests ---

def test_the_harness_sees_errors_violations_and_overflow(browser):
    """What the checks below rely on: a page that breaks each rule is caught
    (a CSP-refused inline script and handler, a console error, a page wider than
    the phone)."""
    bad = ("data:text/html,<!DOCTYPE html><html><head><meta name=viewport content='width=device-width'>"
           "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'\"></head><body>"
           f"<p style='white-space:nowrap'>{LONG_WORD}</p><script>window.__xss=1</script>"
           "<img src=x onerror='window.__xss=1'></body></html>")
    page = browser.page(*PHONE, mobile=True)
    try:
        page.open(bad)
        directives = {violation["directive"] for violation in page.csp_violations()}
        assert {"script-src-elem", "script-src-attr", "style-src-attr"} <= directives, directives
        assert any("Content Security Policy" in error for error in page.console_errors())
        assert page.evaluate("document.documentElement.scrollWidth") > PHONE[0]
        with pytest.raises(AssertionError):
            assert_clean(page)
        page.open("data:text/html,<p>fine</p>")
        page.evaluate("console.error('shown')")
        assert "console: shown" in page.console_errors()
    finally:
        page.close()


def test_collection_page_at_phone_and_desktop_widths(stack, browser, cover_url):
    name = f'Night & Day <script>window.__xss=1</script> "quoted" \'single\' {LONG_WORD}'
    description = "Focus music & more: <b>not bold</b> \"quoted\" <a href='x'>no link</a>"
    tracks = [stack.tracks[4], stack.tracks[1], stack.tracks[0], stack.tracks[3]]
    _, link = shared_collection(stack, {"name": name, "description": description, "cover_image_url": cover_url}, tracks)
    view = json_view(stack, link["url"])
    assert [track["id"] for track in view["tracks"]] == tracks
    for (width, height), mobile in ((PHONE, True), (DESKTOP, False)):
        page = open_page(browser, link["url"], (width, height), mobile=mobile)
        try:
            assert page.evaluate("document.documentElement.lang") == "en"
            assert page.evaluate("[...document.querySelectorAll('h1')].map(h => h.id)") == ["title"]
            assert page.evaluate("document.getElementById('title').textContent") == name
            assert page.evaluate("document.getElementById('description').textContent") == description
            assert page.evaluate("document.querySelectorAll('#description *, #title *').length") == 0
            for landmark in ("header", "main#content", "footer"):
                assert page.evaluate(f"document.querySelectorAll('{landmark}').length") == 1, landmark
            assert page_tracks(page) == expected_tracks(view)
            cover = page.evaluate("""(() => { const img = document.getElementById('cover');
                return img && {alt: img.alt, src: img.src, complete: img.complete, width: img.naturalWidth}; })()""")
            # Loaded (CSP allows it), with a text alternative.
            assert cover and cover["src"] == cover_url and cover["complete"] and cover["width"] == 64, cover
            # Attribute values keep quotes and markup as text (no attribute broken out of).
            assert name in cover["alt"], cover
            assert page.evaluate("document.querySelector('meta[property=\"og:title\"]').content") == name
            assert page.evaluate("document.querySelector('meta[property=\"og:image\"]').content") == cover_url
            assert page.evaluate("document.images.length") == 1
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            screenshot(page, "shared-collection", width)
            assert_stylesheet_applied(page)
            assert_clean(page)
        finally:
            page.close()


def test_markup_in_a_name_and_description_does_not_run(stack, browser):
    _, link = shared_collection(stack, {"name": XSS_NAME, "description": XSS_DESCRIPTION}, stack.tracks[:1])
    page = open_page(browser, link["url"], PHONE, mobile=True)
    try:
        assert page.evaluate("document.getElementById('title').textContent") == XSS_NAME
        assert page.evaluate("document.getElementById('description').textContent") == XSS_DESCRIPTION
        assert page.evaluate("document.getElementById('injected')") is None
        assert page.evaluate("document.images.length") == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
        assert_clean(page)
    finally:
        page.close()


def test_paging_links_lead_through_the_tracks(stack, browser):
    _, link = shared_collection(stack, {"name": "Paged"}, stack.tracks[:3])
    view = json_view(stack, link["url"])
    page = open_page(browser, link["url"] + "?limit=2", DESKTOP)
    try:
        assert page_tracks(page) == expected_tracks(view)[:2]
        assert page.evaluate("document.querySelector('#pages a[rel=prev]')") is None
        following = page.evaluate("document.querySelector('#pages[aria-label] a[rel=next]').href")
        assert page.open(following)["status"] == 200
        assert page_tracks(page) == expected_tracks(view)[2:]
        assert page.evaluate("document.querySelector('#pages a[rel=next]')") is None
        assert page.evaluate("document.querySelector('#pages a[rel=prev]') !== null")
        assert_clean(page)
    finally:
        page.close()


def test_track_page(stack, browser):
    track = requests.get(f"{stack.api}/tracks/{stack.tracks[2]}", headers={"X-API-Key": stack.key},
                         verify=stack.cert, timeout=10).json()
    link = api(stack, "POST", f"/tracks/{track['id']}/share", {"visibility": "public"})
    licence = json_view(stack, link["url"])["track"]["licence"]
    page = open_page(browser, link["url"], PHONE, mobile=True)
    try:
        assert page.evaluate("document.getElementById('title').textContent") == track["title"]
        facts = page.evaluate("[...document.querySelectorAll('#facts dd')].map(dd => dd.textContent)")
        # Duration, instrumental, licence class, version, commercial use, attribution.
        assert len(facts) == 6 and all(fact.strip() for fact in facts), facts
        assert minutes(track["measured_duration_seconds"]) in facts
        assert licence["licence_class"] in facts and licence["licence_version"] in facts
        assert page.evaluate("document.querySelectorAll('#tracks').length") == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
        screenshot(page, "shared-track", PHONE[0])
        assert_stylesheet_applied(page)
        assert_clean(page)
    finally:
        page.close()


def test_revoked_link_and_deleted_collection_pages(stack, browser):
    collection, link = shared_collection(stack, {"name": "Soon gone"}, stack.tracks[:1])
    api(stack, "DELETE", f"/collections/{collection}")
    page = open_page(browser, link["url"], PHONE, mobile=True)
    try:
        assert page.evaluate("document.getElementById('title').textContent") == "This collection is no longer available"
        assert page.evaluate("document.querySelectorAll('#tracks').length") == 0
        assert_clean(page)
    finally:
        page.close()

    _, link = shared_collection(stack, {"name": "Soon revoked"}, stack.tracks[:1])
    api(stack, "DELETE", f"/share/{link['id']}")
    page = open_page(browser, link["url"], PHONE, mobile=True, expect_status=404)
    try:
        assert page.evaluate("document.getElementById('title').textContent") == "This link is not available"
        assert "Soon revoked" not in page.evaluate("document.documentElement.outerHTML")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
        screenshot(page, "shared-not-available", PHONE[0])
        assert_stylesheet_applied(page)
        assert_clean(page, own_failure=link["url"])
    finally:
        page.close()
