"""The card service's HTTP front as an attacker meets it: request smuggling, bad JSON, idle and
slow connections. Raw TLS sockets, so nothing between the test and the server tidies the bytes.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import ssl
import threading

import pytest

from cardservice.http_app import ServerLimits
from cardservice.service import ServiceConfig
from protocol.credential import UnlockKey
from protocol.login_qr import QrAnimation
from sim.siths_pki import SithsHolder
from tests.harness.cardservice import KIOSK_ID, CardServiceHarness
from tests.harness.waiting import wait_for

HOLDER = SithsHolder()
EMBEDDED = (
    b"POST /v1/logins HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b'Content-Length: 37\r\n\r\n{"cardNumber": "9752269885719985027"}'
)


def tls_socket(service, *, certificate: bool = True) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(service.pki.service_ca))
    if certificate:
        context.load_cert_chain(service.pki.kiosk_cert(KIOSK_ID), service.pki.kiosk_key(KIOSK_ID))
    raw = socket.create_connection(("127.0.0.1", service.server.port), timeout=10)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def exchange(service, request: bytes) -> bytes:
    """Send raw bytes; everything the server says until it closes (or goes quiet)."""
    with tls_socket(service) as sock:
        sock.sendall(request)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (TimeoutError, ssl.SSLError, ConnectionError):
            pass
        return received


def statuses(received: bytes) -> list[int]:
    return [
        int(line.split()[1])
        for line in received.split(b"\r\n")
        if line.startswith((b"HTTP/1.1 ", b"HTTP/1.0 "))
    ]


def problem_code(received: bytes) -> str:
    return json.loads(received.split(b"\r\n\r\n", 1)[1].split(b"\r\n")[0])["code"]


def logins_started(service) -> int:
    return [row["event"] for row in service.store.audit_log()].count("login-started")


@pytest.fixture
def registered(cardservice):
    cardservice.register(HOLDER)
    return cardservice


@pytest.mark.parametrize(
    ("name", "request_bytes", "status", "code"),
    [
        (
            "over-the-body-limit",
            b"POST /v1/logins HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 70000\r\n\r\n" + b" " * (70000 - len(EMBEDDED)) + EMBEDDED,
            413,
            "request-too-large",
        ),
        (
            "chunked",
            b"POST /v1/logins HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" + EMBEDDED,
            400,
            "invalid-request",
        ),
        (
            "get-with-a-body",
            b"GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(EMBEDDED)
            + EMBEDDED,
            400,
            "invalid-request",
        ),
        (
            "length-and-chunked",
            b"POST /v1/logins HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + EMBEDDED,
            400,
            "invalid-request",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_desync_attempts_are_refused_and_nothing_embedded_runs(
    registered, name, request_bytes, status, code
):
    received = exchange(registered, request_bytes)
    assert statuses(received) == [status], received[:300]  # one answer, then the connection ends
    assert b"application/problem+json" in received and problem_code(received) == code
    assert logins_started(registered) == 0


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"cardNumber": "\\ud800"}', "lone surrogate"),
        (b"[" * 5000 + b"]" * 5000, "nested 5,000 deep"),
        (b'{"cardNumber": "1", "cardNumber": "2"}', "a member twice"),
        (b'{"cardNumber": NaN}', "NaN"),
        (b'{"cardNumber": "\xff\xfe"}', "not UTF-8"),
        (b'{"cardNumber": "abc"}', "not a card number"),
        (b'{"cardNumber": "9752269885719985027", "extra": 1}', "an extra member"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_bad_json_is_a_400_problem(registered, body, why):
    head = b"POST /v1/logins HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    received = exchange(registered, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert statuses(received) == [400], why
    assert problem_code(received) == "invalid-request"


def test_unknown_paths_and_methods_are_problem_documents(registered):
    missing = exchange(
        registered, b"GET /v1/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert statuses(missing) == [404] and problem_code(missing) == "not-found"
    wrong = exchange(
        registered, b"DELETE /v1/logins HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert statuses(wrong) == [405] and problem_code(wrong) == "method-not-allowed"
    garbage = exchange(registered, b"\x00\x01 nonsense\r\n\r\n")
    assert statuses(garbage) == [400] and problem_code(garbage) == "invalid-request"


def unlock_once(service) -> None:
    """A legitimate kiosk's whole conversation."""
    client = service.client(retries=0)
    login = client.start_login(HOLDER.card_number)
    qr = QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret)
    service.scan_and_approve(qr.current(), HOLDER.personal_identity_number)
    assert client.poll_login(login.order_ref).status == "complete"
    credential = client.request_unlock(
        login.order_ref, HOLDER.card_number, "identification", UnlockKey()
    )
    client.report_outcome(credential.unlock_id, "unlocked")
    client.close()


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (TimeoutError, BlockingIOError, ssl.SSLWantReadError):
        return False
    except (ssl.SSLError, OSError):
        return True


@pytest.fixture
def short_deadlines(tmp_path, dev_pki, smtp_sink):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 8192), hard), hard))
    limits = ServerLimits(handshake_timeout=3.0, header_timeout=3.0)
    harness = CardServiceHarness(
        tmp_path / "cs", dev_pki, smtp_sink, ServiceConfig(), limits=limits
    )
    harness.register(HOLDER)
    yield harness
    harness.stop()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_idle_and_slow_header_connections_do_not_stop_an_unlock(short_deadlines):
    service = short_deadlines
    idle = [socket.create_connection(("127.0.0.1", service.server.port)) for _ in range(1000)]
    slow = [tls_socket(service, certificate=False) for _ in range(20)]
    trickling = threading.Event()

    def trickle() -> None:  # one header byte per connection every 0.2 s, never finishing
        line = b"GET /v1/health HTTP/1.1\r\nX-Slow: " + b"a" * 4000
        for byte in line:
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.sendall(bytes([byte]))
            if trickling.wait(0.2):
                return

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        unlock_once(service)  # the 1,000 idle and 20 slow connections are all open meanwhile
        for sock in slow:
            sock.settimeout(0.05)
        wait_for(
            lambda: all(closed_by_server(sock) for sock in slow),
            timeout=30,
            what="slow headers cut off",
        )
        wait_for(
            lambda: all(closed_by_server(sock) for sock in idle[:50]),
            timeout=30,
            what="idle dropped",
        )
        assert sender.is_alive()  # the attacker was still sending when the server hung up
    finally:
        trickling.set()
        for sock in idle + slow:
            sock.close()
        sender.join(5)
    unlock_once(service)


def test_connections_over_the_cap_are_dropped_at_once(tmp_path, dev_pki, smtp_sink):
    limits = ServerLimits(max_connections=10, handshake_timeout=2.0)
    harness = CardServiceHarness(
        tmp_path / "cs", dev_pki, smtp_sink, ServiceConfig(), limits=limits
    )
    try:
        held = [socket.create_connection(("127.0.0.1", harness.server.port)) for _ in range(10)]
        wait_for(lambda: len(harness.server.guarded.connections) == 10, what="ten connections")
        extra = socket.create_connection(("127.0.0.1", harness.server.port), timeout=10)
        assert extra.recv(1) == b""  # closed without a word
        extra.close()
        for sock in held:
            sock.close()
        wait_for(lambda: harness.client(retries=0).health() == "ok", timeout=30, what="room again")
    finally:
        harness.stop()
