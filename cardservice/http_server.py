"""HTTPS with mutual TLS for the card service, on the standard library's HTTP server.

Why the standard library: the reference service has a dozen routes and needs
the peer certificate of each connection, which ``ssl`` gives directly; a
framework would add a dependency without removing code that matters. The TLS
handshake runs on the connection's own thread, so a slow client cannot stall
the accept loop.

The server asks every client for a certificate (``CERT_OPTIONAL``, so the
phone page works without one) and verifies it against the kiosk device CA;
kiosk routes refuse a connection without one (``client-certificate-required``).
"""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel

from cardservice.phone import PhoneSimulator
from cardservice.phone_page import PHONE_PAGE
from cardservice.problems import Problem
from cardservice.service import CardService
from protocol import cardservice_api as api
from protocol.problems import ProblemCode

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
HANDSHAKE_TIMEOUT = 10.0
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Call:
    """One request as a route sees it: path segments, decoded JSON body, calling kiosk."""

    parts: list[str]
    body: object
    kiosk: str = ""


@dataclass(frozen=True)
class Route:
    """What answers a method and path.

    The operation, its success status, and whether it is a kiosk call (device
    certificate required, ``Idempotency-Key`` honoured).
    """

    answer: Callable[[CardServiceHTTPServer, Call], BaseModel]
    status: int
    kiosk: bool


def server_tls_context(cert: Path, key: Path, client_ca: Path) -> ssl.SSLContext:
    """TLS 1.2+ server context that requests and verifies kiosk certificates."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.load_verify_locations(client_ca)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


class CardServiceHandler(BaseHTTPRequestHandler):
    """One HTTPS connection."""

    server: CardServiceHTTPServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        """Finish the TLS handshake here, on this connection's thread."""
        self.request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError) as error:
            log.info("TLS handshake with %s failed: %s", self.client_address[0], error)
            self.handshake_failed = True
        else:
            self.handshake_failed = False
            self.request.settimeout(REQUEST_TIMEOUT)
        super().setup()

    def handle(self) -> None:
        """Serve requests unless the handshake failed."""
        if not self.handshake_failed:
            super().handle()

    def log_message(self, format: str, *args: object) -> None:
        """Route the access log to logging (never stdout)."""
        log.debug("%s %s", self.client_address[0], format % args)

    # -- plumbing ----------------------------------------------------------------------

    def kiosk_id(self) -> str:
        """The calling kiosk, from its verified client certificate."""
        certificate = self.request.getpeercert()
        if not certificate:
            raise Problem(ProblemCode.CLIENT_CERTIFICATE_REQUIRED)
        for rdn in certificate.get("subject", ()):
            for name, value in rdn:
                if name == "commonName":
                    return str(value)
        raise Problem(ProblemCode.CLIENT_CERTIFICATE_REQUIRED, "the certificate has no common name")

    def _read_json(self) -> object:
        """The decoded JSON body (the operation validates it against its API model)."""
        length_text = self.headers.get("Content-Length", "0")
        try:
            length = int(length_text)
        except ValueError:
            raise Problem(ProblemCode.INVALID_REQUEST, "bad Content-Length") from None
        if length > MAX_BODY or length < 0:
            raise Problem(ProblemCode.INVALID_REQUEST, "request body too large")
        raw = self.rfile.read(length) if length else b"{}"
        try:
            return json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise Problem(ProblemCode.INVALID_REQUEST, "the body is not JSON") from None

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, payload: dict[str, object], problem: bool = False) -> None:
        content_type = "application/problem+json" if problem else "application/json"
        self._send(status, json.dumps(payload).encode(), content_type)

    def _send_problem(self, problem: Problem) -> None:
        self._send_json(problem.status, api.to_wire(problem.to_model()), problem=True)

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        parts = [unquote(p) for p in path.strip("/").split("/") if p]
        if method == "GET" and parts == ["phone"]:
            self._send(200, PHONE_PAGE.encode(), "text/html; charset=utf-8")
            return
        try:
            body = self._read_json() if method == "POST" else {}
            route = self._route(method, parts)
            if route is None:
                # Not an operation of the API, so not one of its problem codes either.
                self._send_json(404, {"title": "Not found", "status": 404}, problem=True)
                return
            call = Call(parts, body, self.kiosk_id() if route.kiosk else "")
            key = self.headers.get("Idempotency-Key")
            if route.kiosk and method == "POST" and key:
                self._idempotent(key, f"{method} {path}", route, call)
                return
            self._send_json(route.status, api.to_wire(route.answer(self.server, call)))
        except Problem as problem:
            self._send_problem(problem)
        except sqlite3.Error as error:
            # Disk full, read-only or locked database: refuse cleanly, keep serving.
            log.error("storage failure on %s %s: %s", method, path, error)
            self._send_problem(
                Problem(ProblemCode.STORAGE_UNAVAILABLE, "the service's database cannot be written")
            )
        except Exception:
            log.exception("internal error on %s %s", method, path)
            self._send_json(500, {"title": "Internal error", "status": 500}, problem=True)

    def _idempotent(self, key: str, request: str, route: Route, call: Call) -> None:
        """Answer a kiosk POST once per (kiosk, key); a repeat gets the first answer again."""
        store = self.server.service.store
        kiosk = call.kiosk
        with self.server.idempotency_lock:
            seen = store.remembered_response(kiosk, key)
            if seen is not None:
                if seen["request"] != request:
                    raise Problem(
                        ProblemCode.INVALID_REQUEST, "Idempotency-Key reused for another request"
                    )
                problem = seen["status"] >= 400
                self._send(
                    seen["status"],
                    seen["body"].encode(),
                    "application/problem+json" if problem else "application/json",
                )
                return
            try:
                answer = route.answer(self.server, call)
                answer_status, problem = route.status, False
            except Problem as refusal:
                answer, answer_status, problem = refusal.to_model(), refusal.status, True
            text = json.dumps(api.to_wire(answer))
            if answer_status < 500:
                store.remember_response(
                    kiosk, key, request, answer_status, text, self.server.service.clock()
                )
        self._send(
            answer_status,
            text.encode(),
            "application/problem+json" if problem else "application/json",
        )

    def _route(self, method: str, parts: list[str]) -> Route | None:
        """The route for a method and path, or ``None`` when the API has no such operation."""
        match method, parts:
            case "GET", ["v1", "health"]:
                return Route(lambda server, call: server.service.health(), 200, kiosk=False)
            case "POST", ["v1", "logins"]:
                return Route(
                    lambda server, call: server.service.start_login(call.kiosk, call.body),
                    201,
                    kiosk=True,
                )
            case "GET", ["v1", "logins", order_ref]:
                return Route(
                    lambda server, call: server.service.login_status(call.kiosk, order_ref),
                    200,
                    kiosk=True,
                )
            case "POST", ["v1", "logins", order_ref, "cancel"]:
                return Route(
                    lambda server, call: server.service.cancel_login(call.kiosk, order_ref),
                    200,
                    kiosk=True,
                )
            case "POST", ["v1", "unlocks"]:
                return Route(
                    lambda server, call: server.service.request_unlock(call.kiosk, call.body),
                    201,
                    kiosk=True,
                )
            case "POST", ["v1", "unlocks", unlock_id, "outcome"]:
                return Route(
                    lambda server, call: server.service.report_outcome(
                        call.kiosk, unlock_id, call.body
                    ),
                    200,
                    kiosk=True,
                )
            case "GET", ["v1", "phone", "identities"]:
                return Route(lambda server, call: server.phone.identities(), 200, kiosk=False)
            case "POST", ["v1", "phone", "scan"]:
                return Route(lambda server, call: server.phone.scan(call.body), 200, kiosk=False)
            case "POST", ["v1", "phone", order_ref, "approve" | "decline" as verb]:
                return Route(
                    lambda server, call: server.phone.decide(
                        order_ref, call.body, approve=verb == "approve"
                    ),
                    200,
                    kiosk=False,
                )
        return None

    def do_GET(self) -> None:
        """GET routes."""
        self._dispatch("GET")

    def do_POST(self) -> None:
        """POST routes."""
        self._dispatch("POST")


class CardServiceHTTPServer(ThreadingHTTPServer):
    """The threaded HTTPS server; TLS is wrapped per connection, handshaken per thread."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], service: CardService, tls: ssl.SSLContext) -> None:
        self.service = service
        self.phone = PhoneSimulator(service)
        self.tls = tls
        self.idempotency_lock = threading.Lock()
        super().__init__(address, CardServiceHandler)

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept, and wrap without handshaking (the handler thread does that)."""
        sock, address = self.socket.accept()
        # Headers and body go out in separate writes; without this, Nagle's
        # algorithm holds the body for the client's delayed ACK (40 ms a request).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address


class CardServiceServer:
    """Start and stop the HTTPS server on a background thread (tests, demo)."""

    def __init__(
        self, service: CardService, tls: ssl.SSLContext, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.httpd = CardServiceHTTPServer((host, port), service, tls)
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL."""
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> CardServiceServer:
        """Serve on a daemon thread."""
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="cardservice-http", daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.thread is not None:
            self.thread.join(5)
