"""Slow and idle connections are bounded: one address holding thousands of
connections that send their headers a byte a second (plus idle ones and bodies
trickled a byte a second) cannot keep another address from being served within
1 s; nginx closes the idle and slow-header ones after client_header_timeout;
requests in progress per address stop at limit_conn with the 429 envelope.
(Idle connections alone never starved nginx: it closes the oldest idle one when
it runs out of connections. A connection with part of a request cannot be
reclaimed that way: 8,800 of them exceeded the 2 x 4,096 connections nginx had,
for the 60 s of its default header timeout.)"""
import resource
import random
import socket
import threading
import time

import pytest

from edge_client import assert_envelope, get, own_key, raw_socket, rendered
from log_wait import wait_for_text

IDLE, SLOW_HEADERS, SLOW_BODIES = 300, 8800, 100
ATTACKER, VICTIM, CROWD = "127.0.0.31", "127.0.0.32", "127.0.0.33"


@pytest.fixture
def descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = IDLE + SLOW_HEADERS + SLOW_BODIES + 2000
    if hard < wanted:
        pytest.fail(f"this test opens {wanted} sockets; the hard RLIMIT_NOFILE is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def closed_by_nginx(client):
    """Whether nginx has closed (or answered and closed) this connection."""
    try:
        client.recv(1024, socket.MSG_DONTWAIT)
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_thousands_of_idle_and_slow_connections_from_one_address_starve_no_one(stack, descriptors):
    header_timeout = rendered(stack, r"client_header_timeout (\d+)s;")
    key = own_key(stack)
    sockets, slow_headers, slow_bodies = [], [], []
    stop = threading.Event()

    def trickle():
        """One byte a second on every slow connection, until stopped."""
        while not stop.wait(1):
            for client in slow_headers + slow_bodies:
                try:
                    client.send(b"a")
                except OSError:
                    pass

    trickler = threading.Thread(target=trickle)
    try:
        for _ in range(SLOW_BODIES):
            client = raw_socket(stack, ATTACKER)
            client.sendall(f"POST /v1/music/{stack.org}/collections HTTP/1.1\r\nHost: localhost\r\n"
                           f"X-API-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n".encode())
            slow_bodies.append(client)
        trickler.start()
        for _ in range(IDLE):
            sockets.append(raw_socket(stack, ATTACKER))
        for _ in range(SLOW_HEADERS):
            try:
                client = raw_socket(stack, ATTACKER)
                client.sendall(b"GET /v1/music/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            except OSError:
                break  # nginx accepts no more: the probes below show what that costs others
            slow_headers.append(client)
        probes = []
        started = time.monotonic()
        # Past client_header_timeout after the last connection opened, so nginx has
        # had the time to close every idle and slow-header one.
        for tick in range(2 * (header_timeout + 5)):
            delay = started + tick / 2 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent = time.monotonic()
            try:
                status, _, _ = get(stack, "/v1/music/health", VICTIM, timeout=1)
            except OSError as error:
                status = repr(error)
            probes.append((tick / 2, status, round(time.monotonic() - sent, 3)))
        late = [probe for probe in probes if probe[1] != 200 or probe[2] > 1]
        assert len(slow_headers) == SLOW_HEADERS and not late, (len(slow_headers), len(late), probes)
        open_idle = [client for client in sockets + slow_headers if not closed_by_nginx(client)]
        assert not open_idle, f"{len(open_idle)} idle or slow-header connections still open"
    finally:
        stop.set()
        if trickler.is_alive():
            trickler.join(5)
        for client in sockets + slow_headers + slow_bodies:
            client.close()


def test_requests_in_progress_per_address_stop_at_limit_conn(stack):
    """Bodies trickled by one address hold requests in progress (nginx reads a body
    whole before passing it on): beyond limit_conn the 429 envelope, logged as such."""
    limit = rendered(stack, r"limit_conn music_connections (\d+);")
    rng = random.Random(33)
    held = []
    try:
        # Paced under the per-address rate limit, each with a key of its own (the
        # per-key limit stays out of the way): only limit_conn can refuse them.
        started = time.monotonic()
        for number in range(limit + 20):
            delay = started + number * 0.012 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            client = raw_socket(stack, CROWD)
            client.sendall(f"POST /v1/music/{stack.org}/collections HTTP/1.1\r\nHost: localhost\r\n"
                           f"X-API-Key: ak_{rng.randbytes(16).hex()}\r\nContent-Type: application/json\r\n"
                           "Content-Length: 1000\r\n\r\n{".encode())
            held.append(client)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status, headers, body = get(stack, "/v1/music/health", CROWD)
            if status == 429:
                break
            time.sleep(0.1)
        assert_envelope(status, headers, body, "RATE_LIMIT_EXCEEDED")
        log = wait_for_text(stack.var / "log" / "nginx-error.log",
                            f'limiting connections by zone "music_connections", client: {CROWD}')
        assert f'limiting connections by zone "music_connections", client: {CROWD}' in log
        # Another address is not affected.
        assert get(stack, "/v1/music/health", VICTIM)[0] == 200
    finally:
        for client in held:
            client.close()
