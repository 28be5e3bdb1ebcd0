"""TLS 1.2 with forward-secret AEAD suites only and no session tickets; the
security headers on every answer (the worker's and nginx's own); every answer
nginx makes itself is the JSON envelope, even a direct request to an error page."""
import subprocess

from edge_client import assert_envelope, call, connection, https_port, own_key, tls_connection


def handshake(stack, *arguments):
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{https_port(stack)}", "-tls1_2", *arguments],
                          input="", capture_output=True, text=True, timeout=10)


def test_tls_1_2_offers_only_forward_secret_aead_suites_and_no_tickets(stack):
    # Suites without forward secrecy (RSA key exchange) or without AEAD (CBC).
    for suite in ["AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384"]:
        result = handshake(stack, "-cipher", suite)
        assert result.returncode != 0 and "handshake failure" in result.stderr, (suite, result.stdout[-2000:])
    for suite in ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305"]:
        result = handshake(stack, "-cipher", suite)
        assert f"Cipher    : {suite}" in result.stdout, (suite, result.stdout[-2000:], result.stderr)
        assert "TLS session ticket" not in result.stdout, suite


def headers_ok(headers, tls):
    assert headers["X-Content-Type-Options"] == "nosniff", headers
    if tls:
        assert headers["Strict-Transport-Security"] == "max-age=31536000", headers
    else:
        assert "Strict-Transport-Security" not in headers, headers


def test_security_headers_on_every_answer(stack):
    key = own_key(stack)
    for tls, make in [(True, tls_connection), (False, connection)]:
        client = make(stack, "127.0.0.41")
        # 200 and 401 from the worker.
        status, headers, _ = call(client, "GET", "/v1/music/health")
        assert status == 200
        headers_ok(headers, tls)
        status, headers, body = call(client, "GET", f"/v1/music/{stack.org}/collections")
        assert_envelope(status, headers, body, "AUTHENTICATION_REQUIRED")
        headers_ok(headers, tls)
        # 405 (with Allow), 404 and 400 from nginx itself.
        status, headers, body = call(client, "TRACE", "/v1/music/health")
        assert_envelope(status, headers, body, "METHOD_NOT_ALLOWED")
        assert headers["Allow"] == "GET"
        headers_ok(headers, tls)
        status, headers, body = call(client, "GET", "/__music_error/429")
        assert_envelope(status, headers, body, "RESOURCE_NOT_FOUND")
        headers_ok(headers, tls)
        status, headers, body = call(client, "GET", "/v1/music/a%2Fb")
        assert_envelope(status, headers, body, "BAD_REQUEST")
        headers_ok(headers, tls)
        # 413 from nginx (it closes the connection after it).
        status, headers, body = call(client, "POST", f"/v1/music/{stack.org}/collections",
                                     {"X-API-Key": key, "Content-Type": "application/json"}, b"x" * (2 << 20))
        assert_envelope(status, headers, body, "PAYLOAD_TOO_LARGE")
        headers_ok(headers, tls)
        client.close()


def test_rate_limited_answer_carries_the_headers(stack):
    client = tls_connection(stack, "127.0.0.42")
    answers = [call(client, "GET", "/v1/music/shared/" + "B" * 43) for _ in range(80)]
    client.close()
    status, headers, body = next(answer for answer in answers if answer[0] == 429)
    assert_envelope(status, headers, body, "RATE_LIMIT_EXCEEDED")
    assert headers["Retry-After"] == "1"
    headers_ok(headers, True)


def test_every_error_page_asked_for_directly_is_the_json_404(stack):
    client = tls_connection(stack, "127.0.0.43")
    for code in [400, 404, 405, 408, 413, 414, 429, 431, 500, 502, 503, 504, 999]:
        status, headers, body = call(client, "GET", f"/__music_error/{code}")
        assert_envelope(status, headers, body, "RESOURCE_NOT_FOUND")
    client.close()


def test_plain_http_to_the_https_port_is_the_json_400(stack):
    client = connection(stack, "127.0.0.43")
    client.port = https_port(stack)
    status, headers, body = call(client, "GET", "/v1/music/health")
    assert_envelope(status, headers, body, "BAD_REQUEST")
    client.close()
