"""TLS and proxy hygiene: old TLS refused, request smuggling shapes stopped at nginx,
oversized headers answered with the envelope."""
import json
import socket
import subprocess

from log_wait import logs_caught_up


def raw_http(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received or len(received.split(b"\r\n\r\n", 1)[1]) < int(
                [line for line in received.split(b"\r\n") if line.lower().startswith(b"content-length:")][0].split(b":")[1]):
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head.decode(), json.loads(body)


def handshake(stack, version, *extra):
    port = stack.https.rsplit(":", 1)[1]
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", version, *extra],
                          input="", capture_output=True, text=True, timeout=10)


def test_tls_1_0_and_1_1_are_refused_by_the_server(stack):
    # SECLEVEL=0 lets this client offer the old versions, so a refusal is the server's.
    for version in ["-tls1", "-tls1_1"]:
        result = handshake(stack, version, "-cipher", "DEFAULT@SECLEVEL=0")
        assert "alert protocol version" in result.stdout + result.stderr, version
    modern = handshake(stack, "-tls1_2")
    assert "Protocol  : TLSv1.2" in modern.stdout


def worker_logs(stack):
    logs_caught_up(stack)
    return "".join(path.read_text(errors="replace") for path in (stack.var / "log").glob("worker-*.log"))


def test_conflicting_content_length_and_transfer_encoding_stop_at_nginx(stack):
    port = int(stack.http.rsplit(":", 1)[1])
    status, head, body = raw_http(port, (
        f"POST /v1/music/{stack.org}/collections HTTP/1.1\r\nHost: localhost\r\nX-API-Key: {stack.key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").encode())
    assert status == 400
    assert body["error"]["code"] == "BAD_REQUEST"
    assert body["error"]["trace_id"] not in worker_logs(stack)


def test_an_oversized_header_is_refused_with_the_envelope(stack):
    port = int(stack.http.rsplit(":", 1)[1])
    status, head, body = raw_http(port, b"GET /v1/music/health HTTP/1.1\r\nHost: localhost\r\nX-Big: "
                                  + b"a" * 20000 + b"\r\n\r\n")
    assert status == 431
    assert body["error"]["code"] == "HEADERS_TOO_LARGE"
    assert body["error"]["trace_id"] in head


def test_trace_is_a_405_envelope_with_allow(stack):
    port = int(stack.http.rsplit(":", 1)[1])
    status, head, body = raw_http(port, f"TRACE /v1/music/{stack.org}/collections HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    assert status == 405
    assert body["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert "Allow: GET, POST" in head
