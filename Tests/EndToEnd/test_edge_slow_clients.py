"""A slow reader never holds a worker thread: nginx takes each answer off the worker
whole (buffers, then a temp file) and feeds the client at its pace. 130 HTTP/2
streams with a zero flow-control window and 130 HTTP/1.1 connections that never
read ask for a large answer (a shared view of 1.2 MB, where nginx's buffers and
the socket's hold about 0.5 MB); once every one of them has its answer's status
(all answers made: 260 of them take a few seconds of CPU), /health answers within
1 s, every second for 30 s. The stack has 2 x 64 worker threads: before nginx
spooled answers, 128 of the 260 held a thread each until nginx's send_timeout,
the others never got an answer, and no probe was answered."""
import json
import pathlib
import pwd
import re
import stat
import socket
import ssl
import subprocess
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
import requests

from edge_client import get, http_port, https_port, own_key, rendered

TRACKS = 600
# Characters of 4 bytes (U+1D11E): 1.2 MB of shared view, for little work per answer.
TITLE = 480
STREAMS, H2_CONNECTIONS, READERS = 130, 5, 130


@pytest.fixture(scope="module")
def large_share(stack, tmp_path_factory):
    """A public link to a collection of TRACKS tracks with long titles. The members
    are written with sqlite3 (an add per request through the API would meet
    the rate limits); the workers see them at once (data_version moves)."""
    demo = json.loads((stack.var / "demo.json").read_text())
    key = {"X-API-Key": own_key(stack)}
    collection = requests.post(f"{stack.api}/collections", headers=key, json={"name": "Slow readers"},
                               verify=stack.cert).json()["id"]
    # Titles name the collection, so the tracks of this run are told apart.
    lines = tmp_path_factory.mktemp("slow") / "tracks.jsonl"
    lines.write_text("".join(json.dumps({"title": f"{collection} {index} " + "\U0001D11E" * TITLE}) + "\n"
                             for index in range(TRACKS)))
    stack.admin("track", "import", "--org", stack.org, "--owner", demo["user_id"], str(lines))
    subprocess.run(["sqlite3", str(stack.var / "music.sqlite")], text=True, check=True, input=f"""
        BEGIN IMMEDIATE;
        INSERT INTO collection_tracks (collection_id, track_id, position, added_at)
            SELECT '{collection}', id, row_number() OVER (ORDER BY id) - 1, CAST(strftime('%s', 'now') AS INTEGER)
            FROM tracks WHERE title LIKE '{collection} %';
        UPDATE collections SET track_count = {TRACKS}, version = version + 1 WHERE id = '{collection}';
        COMMIT;""")
    link = requests.post(f"{stack.api}/collections/{collection}/share", headers=key, json={"visibility": "public"},
                         verify=stack.cert).json()
    path = f"/v1/music/shared/{link['token']}"
    status, _, body = get(stack, path, "127.0.0.60", timeout=30)
    assert status == 200 and len(json.loads(body)["tracks"]) == TRACKS
    assert len(body) > 1_000_000
    return path


class ZeroWindowConnection:
    """An HTTP/2 connection (TLS) whose streams have a zero flow-control window:
    nginx may send each answer's headers but not one byte of its body."""

    def __init__(self, stack, source, path, streams):
        context = ssl.create_default_context(cafile=stack.cert)
        context.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", https_port(stack)), timeout=10, source_address=(source, 0))
        self.socket = context.wrap_socket(raw, server_hostname="localhost")
        assert self.socket.selected_alpn_protocol() == "h2"
        self.connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.connection.initiate_connection()
        self.connection.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        self.statuses = {}
        self.closed = False
        for _ in range(streams):
            stream = self.connection.get_next_available_stream_id()
            self.connection.send_headers(stream, [(":method", "GET"), (":path", path), (":scheme", "https"),
                                                  (":authority", "localhost")], end_stream=True)
        self.socket.sendall(self.connection.data_to_send())
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        """Answers nginx's SETTINGS and PINGs and notes each stream's status; never
        opens a window, so no body arrives."""
        self.socket.settimeout(1)
        while not self.closed:
            try:
                data = self.socket.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            for event in self.connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    self.statuses[event.stream_id] = dict(event.headers)[b":status"]
            pending = self.connection.data_to_send()
            if pending:
                try:
                    self.socket.sendall(pending)
                except OSError:
                    break

    def close(self):
        self.closed = True
        self.reader.join(5)
        self.socket.close()


def never_reading(stack, source, path):
    """An HTTP/1.1 connection that sends its request and never reads (a small
    receive buffer: the client's window stays small)."""
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.bind((source, 0))
    client.settimeout(10)
    client.connect(("127.0.0.1", http_port(stack)))
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    return client


def peek(client):
    """The first bytes received, left unread."""
    try:
        return client.recv(12, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:
        return b""


def test_slow_readers_hold_no_worker_thread(stack, large_share):
    # Each slow client from an address of its own: the per-address limits stay out
    # of the way, so every request reaches a worker and is answered.
    h2_clients = [ZeroWindowConnection(stack, f"127.0.2.{index + 1}", large_share, STREAMS // H2_CONNECTIONS)
                  for index in range(H2_CONNECTIONS)]
    readers = []
    probes = []
    try:
        readers = [never_reading(stack, f"127.0.3.{index + 1}", large_share) for index in range(READERS)]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            h2_statuses = [status for client in h2_clients for status in client.statuses.values()]
            answered = [peek(client) for client in readers]
            if len(h2_statuses) == STREAMS and answered == [b"HTTP/1.1 200"] * READERS:
                break
            time.sleep(0.2)
        started = time.monotonic()
        for second in range(30):
            delay = started + second - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent = time.monotonic()
            try:
                status, _, _ = get(stack, "/v1/music/health", "127.0.0.61", timeout=1)
            except OSError as error:
                status = repr(error)
            probes.append((second, status, round(time.monotonic() - sent, 3)))
    finally:
        for client in h2_clients:
            client.close()
        for client in readers:
            client.close()
    late = [probe for probe in probes if probe[1] != 200 or probe[2] > 1]
    assert not late, (len(late), probes)
    assert h2_statuses == [b"200"] * STREAMS, (len(h2_statuses), h2_statuses)
    assert answered == [b"HTTP/1.1 200"] * READERS, answered


def test_spooled_answers_go_to_disk(stack):
    """nginx's temp files, the answers spooled for slow readers among them, lie on
    disk in a folder of nginx's user alone: /run is a tmpfs (RAM) on most hosts."""
    text = (stack.var / "nginx" / "nginx.conf").read_text()
    folder = pathlib.Path(re.search(r"fastcgi_temp_path\s+(\S+);", text).group(1)).parent
    kind = subprocess.run(["stat", "-f", "-c", "%T", str(folder)], capture_output=True, text=True, check=True).stdout.strip()
    assert kind not in ("tmpfs", "ramfs"), (folder, kind)
    # Not in the sockets' folder either: that is a tmpfs wherever /run is one.
    sockets = pathlib.Path(re.search(r"server unix:(\S+)/worker-1\.sock", text).group(1))
    assert sockets not in folder.parents and folder != sockets, (folder, sockets)
    status = folder.stat()
    assert (pwd.getpwuid(status.st_uid).pw_name, stat.S_IMODE(status.st_mode)) == ("www-data", 0o700), folder


def test_shared_views_in_progress_per_address_are_bounded(stack, large_share):
    """A shared view is megabytes that nginx spools while a slow client reads it:
    one address may have at most MUSIC_SHARE_CONNECTIONS of them in progress, the
    rest get the 429 envelope at once (before: up to MUSIC_ADDRESS_CONNECTIONS)."""
    allowed = rendered(stack, r"limit_conn music_shared_connections (\d+);")
    # Within the shared views' burst, so no 429 comes from their rate limit.
    assert allowed + 8 <= rendered(stack, r"zone=music_shared burst=(\d+)")
    readers = []
    try:
        readers = [never_reading(stack, "127.0.0.80", large_share) for _ in range(allowed + 8)]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            statuses = [peek(client) for client in readers]
            if all(statuses):
                break
            time.sleep(0.1)
    finally:
        for client in readers:
            client.close()
    assert sorted(set(statuses)) == [b"HTTP/1.1 200", b"HTTP/1.1 429"], statuses
    assert statuses.count(b"HTTP/1.1 200") <= allowed, statuses
