"""Clients for the tests of nginx's limits (test_edge_*.py). Each such test sends
from loopback source addresses of its own (127.0.0.21 and up; the stack listens
on 127.0.0.1 and accepts any loopback source), so the per-address limits that
the other tests meet from 127.0.0.1 stay untouched."""
import http.client
import json
import os
import re
import socket
import ssl
import struct
import threading
import time


def own_key(stack):
    """A key of a new member of the demo organization: these tests use many
    requests, so the demo key's rate-limit bucket is left to the other tests."""
    user = stack.admin("user", "create", "--org", stack.org, "--email", f"edge-{os.urandom(6).hex()}@e2e.test",
                       "--capability", "USE_MUSIC_GENERATION")
    return stack.admin("key", "create", "--user", user["id"])["key"]


def http_port(stack):
    return int(stack.http.rsplit(":", 1)[1])


def https_port(stack):
    return int(stack.https.rsplit(":", 1)[1])


def connection(stack, source, timeout=5):
    """A plain HTTP/1.1 connection to the stack from `source`."""
    return http.client.HTTPConnection("127.0.0.1", http_port(stack), timeout=timeout, source_address=(source, 0))


def tls_connection(stack, source, timeout=5):
    """An HTTPS (HTTP/1.1) connection to the stack from `source`."""
    context = ssl.create_default_context(cafile=stack.cert)
    return http.client.HTTPSConnection("localhost", https_port(stack), timeout=timeout,
                                       source_address=(source, 0), context=context)


def call(client, method, path, headers=None, body=None):
    """One request on `client`: (status, headers, raw body)."""
    client.request(method, path, body=body, headers=headers or {})
    response = client.getresponse()
    return response.status, response.headers, response.read()


def get(stack, path, source, headers=None, timeout=5):
    """One GET on a fresh connection: (status, headers, raw body)."""
    client = connection(stack, source, timeout)
    try:
        client.request("GET", path, headers=headers or {})
        response = client.getresponse()
        return response.status, response.headers, response.read()
    finally:
        client.close()


def paced(stack, requests, seconds, sources, per_source=4):
    """Sends `requests` ((path, headers) pairs) evenly over `seconds`, spread over
    kept-alive connections from `sources` (`per_source` each). Returns, in order,
    (status, headers, body) per request."""
    answers = [None] * len(requests)
    lanes = [source for source in sources for _ in range(per_source)]
    started = time.monotonic() + 0.2

    def lane(index, source):
        client = connection(stack, source)
        try:
            for number in range(index, len(requests), len(lanes)):
                delay = started + number * seconds / len(requests) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                path, headers = requests[number]
                for attempt in range(2):
                    try:
                        client.request("GET", path, headers=headers)
                        response = client.getresponse()
                        answers[number] = (response.status, response.headers, response.read())
                        break
                    except (http.client.HTTPException, ConnectionError):
                        # nginx closed the kept-alive connection: once more on a new one.
                        client.close()
                        client = connection(stack, source)
                        if attempt:
                            raise
        finally:
            client.close()

    threads = [threading.Thread(target=lane, args=(index, source)) for index, source in enumerate(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    assert all(answer is not None for answer in answers), "a request got no answer"
    return answers


def assert_envelope(status, headers, body, code):
    """The API's JSON error envelope, with nginx's security headers."""
    assert headers["Content-Type"].startswith("application/json"), (status, headers, body[:200])
    error = json.loads(body)["error"]
    assert (error["status"], error["code"]) == (status, code), error
    assert error["trace_id"] == headers["X-Request-ID"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    return error


def raw_socket(stack, source, port=None):
    """A TCP connection from `source` to the stack's HTTP port (or `port`), closed
    with a reset: thousands of them leave no TIME_WAIT behind."""
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.bind((source, 0))
    client.settimeout(3)
    client.connect(("127.0.0.1", port or http_port(stack)))
    return client


def rendered(stack, pattern):
    """A number in the stack's rendered nginx configuration (the limits' defaults
    live in deploy/lib.sh; a test reads what the stack runs with)."""
    text = "".join(path.read_text() for path in (stack.var / "nginx").glob("*.conf"))
    return int(re.search(pattern, text).group(1))
