"""The kiosk client against a card service that is down, slow, failing or talking nonsense.

Real HTTPS servers on loopback that misbehave on purpose; every case must end
in a typed error, promptly, never a hang or a stray exception.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kiosk.cardservice_client import CardServiceClient
from kiosk.cardservice_errors import (
    CardServiceFailure,
    CardServiceProtocolError,
    CardServiceTimeout,
    CardServiceUnreachable,
)
from tests.harness.smtp_sink import free_port

RESPONSES = {
    "error500": (500, "text/html", b"<h1>Internal Server Error</h1>"),
    "garbage": (200, "application/json", b"{this is not json"),
    "list": (200, "application/json", b"[1, 2, 3]"),
    "missing-fields": (201, "application/json", b'{"orderRef": 42}'),
    "teapot": (418, "text/plain", b"no"),
    "bad-gateway": (502, "text/plain", b"upstream down"),
    "naive-time": (
        201,
        "application/json",
        b'{"orderRef": "o", "qrStartToken": "t", "qrStartSecret": "s", "qrPrefix": "p",'
        b' "expiresAt": "2030-01-01T12:00:00", "pollIntervalSeconds": 2}',
    ),
    "unknown-hint": (
        200,
        "application/json",
        b'{"orderRef": "o", "status": "pending", "hintCode": "dancing",'
        b' "expiresAt": "2030-01-01T12:00:00Z", "completion": null}',
    ),
    "unknown-problem-code": (
        409,
        "application/problem+json",
        b'{"type": "https://x.example/p", "title": "No", "status": 409, "code": "no-such-code"}',
    ),
    "unconfirmed-outcome": (200, "application/json", b'{"unlockId": "u", "recorded": "yes"}'),
}


class Misbehaving(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self):
        server = self.server
        server.requests += 1
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if server.mode == "slow":
            server.release.wait(30)  # hold the answer until the test is over
            return
        status, kind, body = RESPONSES[server.mode]
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


@pytest.fixture
def misbehaving(dev_pki):
    servers = []

    def start(mode: str):
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
        httpd.daemon_threads = True
        httpd.mode, httpd.requests, httpd.release = mode, 0, threading.Event()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(dev_pki.service_cert, dev_pki.service_key)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        client = CardServiceClient(
            f"https://127.0.0.1:{httpd.server_address[1]}",
            kiosk_id="kiosk-entre-a",
            client_cert=None,
            ca_file=dev_pki.service_ca,
            connect_timeout=2,
            read_timeout=0.5,
            retries=1,
            backoff=0.01,
        )
        return httpd, client

    yield start
    for httpd in servers:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()


def test_service_down(dev_pki):
    client = CardServiceClient(
        f"https://127.0.0.1:{free_port()}",
        kiosk_id="kiosk-entre-a",
        client_cert=None,
        ca_file=dev_pki.service_ca,
        retries=1,
        backoff=0.01,
    )
    with pytest.raises(CardServiceUnreachable):
        client.health()


def test_service_slower_than_the_read_timeout(misbehaving):
    _httpd, client = misbehaving("slow")
    with pytest.raises(CardServiceTimeout):
        client.start_login("9752269885719985027")


def test_server_error_without_problem_document(misbehaving):
    _httpd, client = misbehaving("error500")
    with pytest.raises(CardServiceFailure) as failure:
        client.poll_login("abc")
    assert failure.value.status == 500


@pytest.mark.parametrize("mode", ["garbage", "list", "missing-fields", "teapot"])
def test_answers_that_are_not_the_api(misbehaving, mode):
    _httpd, client = misbehaving(mode)
    with pytest.raises(CardServiceProtocolError):
        client.start_login("9752269885719985027")


@pytest.mark.parametrize(
    ("mode", "call", "named"),
    [
        ("missing-fields", lambda c: c.start_login("9752269885719985027"), "orderRef"),
        ("naive-time", lambda c: c.start_login("9752269885719985027"), "expiresAt"),
        ("unknown-hint", lambda c: c.poll_login("o"), "hintCode"),
        ("unknown-problem-code", lambda c: c.poll_login("o"), "code"),
        ("unconfirmed-outcome", lambda c: c.report_outcome("u", "unlocked"), "recorded"),
    ],
)
def test_an_answer_off_the_api_names_what_is_wrong(misbehaving, mode, call, named):
    _httpd, client = misbehaving(mode)
    with pytest.raises(CardServiceProtocolError, match=named):
        call(client)


def test_a_request_the_api_would_refuse_is_not_sent(misbehaving):
    httpd, client = misbehaving("garbage")
    with pytest.raises(CardServiceProtocolError, match="cardNumber"):
        client.start_login("not a card number")
    with pytest.raises(CardServiceProtocolError, match="result"):
        client.report_outcome("u", "exploded")
    assert httpd.requests == 0


def test_bad_gateway_is_retried_then_reported(misbehaving):
    httpd, client = misbehaving("bad-gateway")
    with pytest.raises(CardServiceFailure):
        client.poll_login("abc")
    assert httpd.requests == 2  # one retry, then the typed error


def test_service_with_an_untrusted_certificate(cardservice, tmp_path):
    from sim.dev_pki import write_dev_pki

    other = write_dev_pki(tmp_path / "other", [])
    client = CardServiceClient(
        cardservice.url,
        kiosk_id="kiosk-entre-a",
        client_cert=None,
        ca_file=other.service_ca,
        retries=0,
    )
    with pytest.raises(CardServiceUnreachable, match="TLS"):
        client.health()
