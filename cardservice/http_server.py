"""HTTPS with mutual TLS for the card service, on aiohttp, with limits an open port needs.

Why not aiohttp's own site classes: they cannot bound the number of connections, and
they start TLS before the application sees a connection. Here every accepted TCP
connection is counted first (over ``max_connections`` it is dropped at once), then
TLS is started with a handshake deadline, then aiohttp's HTTP/1.1 parser (llhttp,
strict) takes the connection. aiohttp's keep-alive timer, which partial data does not
reset, is the header deadline: a connection that has not sent a complete request head
within ``header_timeout`` of connecting, or of its previous answer, is closed, so
idle and slow-header connections cost little and not for long.

The server asks every client for a certificate (``CERT_OPTIONAL``, so ``/v1/health``
works without one) and verifies it against the kiosk device CA; kiosk routes refuse a
connection without one (``client-certificate-required``). Errors aiohttp answers
itself (a malformed request line, an oversized header) are problem documents too.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from cardservice.answers import Answer
from cardservice.client_crl import (
    CHECK_INTERVAL,
    CrlError,
    LoadedCrl,
    Reminder,
    changed,
    crl_file,
    staleness,
)
from cardservice.client_crl import load as load_crl
from cardservice.http_app import ServerLimits, build_app, problem_response
from cardservice.problems import Problem
from cardservice.service import CardService
from protocol.problems import ProblemCode

log = logging.getLogger(__name__)


def server_tls_context(
    cert: Path, key: Path, client_ca: Path, client_crl: Path | None = None
) -> ssl.SSLContext:
    """TLS 1.2+ server context that requests and verifies kiosk certificates (and the CRL)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.load_verify_locations(client_ca)
    if client_crl is not None:
        context.load_verify_locations(client_crl)
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


@dataclass(frozen=True)
class CrlSettings:
    """How to rebuild the TLS context when the kiosks' CRL changes (client_crl.py)."""

    cert: Path
    key: Path
    client_ca: Path
    client_crl: Path
    interval: float = CHECK_INTERVAL


class _ProblemRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering its own errors as problem documents."""

    def handle_error(
        self,
        request: object,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        code = {
            400: ProblemCode.INVALID_REQUEST,
            413: ProblemCode.REQUEST_TOO_LARGE,
            431: ProblemCode.REQUEST_TOO_LARGE,
        }.get(status, ProblemCode.INTERNAL_ERROR)
        if code is ProblemCode.INTERNAL_ERROR:
            log.error("internal error: %r", exc)
        else:
            log.info("refused a malformed request (HTTP %d): %s", status, message or exc)
        detail = (
            "the request is not well-formed HTTP/1.1"
            if code is ProblemCode.INVALID_REQUEST
            else None
        )
        return problem_response(Answer.refusal(Problem(code, detail)), close=True)


class _Connection(asyncio.Protocol):
    """One TCP connection: counted, then TLS with a deadline, then handed to aiohttp."""

    def __init__(self, server: GuardedServer) -> None:
        self.server = server
        self.inner: RequestHandler | None = None
        self.raw: asyncio.BaseTransport | None = None
        self.counted = False
        self.task: asyncio.Future[None] | None = None
        self.early: list[bytes] = []
        #: The client certificate's serial number, once the handshake verified one.
        self.serial: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.raw = transport
        if len(self.server.connections) >= self.server.limits.max_connections:
            transport.abort()
            return
        self.server.connections.add(self)
        self.counted = True
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.task = asyncio.ensure_future(self._handshake(transport))

    async def _handshake(self, transport: asyncio.BaseTransport) -> None:
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(
                transport,  # type: ignore[arg-type]
                self,
                self.server.tls,
                server_side=True,
                ssl_handshake_timeout=self.server.limits.handshake_timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as error:
            log.debug("TLS handshake failed: %s", error)
            transport.abort()
            self._forget()
            return
        if tls is None or tls.is_closing():
            self._forget()
            return
        peer = tls.get_extra_info("peercert")
        if peer and "serialNumber" in peer:
            self.serial = int(peer["serialNumber"], 16)
        inner = self.server.new_handler()
        inner.connection_made(tls)
        self.inner = inner
        early, self.early = self.early, []
        for data in early:  # what came with the end of the handshake, before this ran
            inner.data_received(data)

    def _forget(self) -> None:
        if self.counted:
            self.counted = False
            self.server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)
        elif sum(map(len, self.early)) < self.server.limits.max_body:
            self.early.append(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def abort(self) -> None:
        """Drop the connection (shutdown)."""
        if self.raw is not None:
            self.raw.abort()


class GuardedServer:
    """The listening socket and its connections, on one event loop."""

    def __init__(self, app: web.Application, tls: ssl.SSLContext, limits: ServerLimits) -> None:
        self.app = app
        self.tls = tls
        self.limits = limits
        self.connections: set[_Connection] = set()
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._server: asyncio.Server | None = None

    def new_handler(self) -> RequestHandler:
        """The HTTP handler of one connection; its keep-alive timer is the header deadline."""
        return _ProblemRequestHandler(
            self.runner.server,  # type: ignore[arg-type]
            loop=asyncio.get_running_loop(),
            keepalive_timeout=self.limits.header_timeout,
            max_line_size=4096,
            max_field_size=4096,
            max_headers=64,
            lingering_time=0,
        )

    async def start(self, host: str, port: int) -> int:
        """Listen; the bound port."""
        await self.runner.setup()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, backlog=self.limits.backlog, reuse_address=True
        )
        return int(self._server.sockets[0].getsockname()[1])

    def drop_revoked(self, revoked: frozenset[int]) -> int:
        """Drop open connections of revoked certificates; how many."""
        dropped = [c for c in self.connections if c.serial is not None and c.serial in revoked]
        for connection in dropped:
            connection.abort()
        return len(dropped)

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.abort()
        with contextlib.suppress(Exception):
            await self.runner.cleanup()


class CardServiceServer:
    """The server on its own event loop thread (the command line, the tests, the demo)."""

    def __init__(
        self,
        service: CardService,
        tls: ssl.SSLContext,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: ServerLimits | None = None,
        crl: CrlSettings | None = None,
    ) -> None:
        self.limits = limits or ServerLimits()
        self.crl = crl
        self._crl_task: asyncio.Future[None] | None = None
        self.loaded_crl: LoadedCrl | None = None
        if crl is not None:  # a CRL that cannot be used stops the start, with the reason
            self.loaded_crl = load_crl(crl.client_crl, crl.client_ca)
        self.pool = ThreadPoolExecutor(self.limits.workers, thread_name_prefix="cardservice")
        self.service = service
        self.tls = tls
        self.host = host
        self.requested_port = port
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread: threading.Thread | None = None
        self.guarded: GuardedServer | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"https://{host}:{self.port}"

    def start(self) -> CardServiceServer:
        """Listen now (errors such as a port in use are raised here), serve on a daemon thread."""
        ready: list[BaseException | int] = []
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)

            async def begin() -> None:
                self.guarded = GuardedServer(
                    build_app(self.service, self.limits, self.pool), self.tls, self.limits
                )
                ready.append(await self.guarded.start(self.host, self.requested_port))
                if self.crl is not None:
                    self._crl_task = asyncio.ensure_future(self._watch_crl(self.crl))

            try:
                self.loop.run_until_complete(begin())
            except BaseException as error:  # reported to start()'s caller
                ready.append(error)
                started.set()
                return
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="cardservice-http", daemon=True)
        self.thread.start()
        started.wait()
        if isinstance(ready[0], BaseException):
            raise ready[0]
        self.port = ready[0]
        return self

    async def _watch_crl(self, crl: CrlSettings) -> None:
        """Look at the CRL file every interval; use a changed one that verifies."""
        reminder, refusal = Reminder(), Reminder()  # a broken file is looked at every interval
        while True:
            await asyncio.sleep(crl.interval)
            assert self.loaded_crl is not None
            assert self.guarded is not None
            alarm = staleness(self.loaded_crl, dt.datetime.now(dt.UTC))
            if reminder.due(alarm and alarm[1], time.monotonic()):
                assert alarm is not None
                log.log(alarm[0], "%s", alarm[1])
            if not changed(crl.client_crl, self.loaded_crl):
                continue
            try:
                loaded = load_crl(crl.client_crl, crl.client_ca, in_use=self.loaded_crl)
                with crl_file(loaded) as in_use:
                    tls = server_tls_context(crl.cert, crl.key, crl.client_ca, in_use)
            except (CrlError, OSError, ssl.SSLError) as error:
                if refusal.due(str(error), time.monotonic()):
                    log.error(
                        "the kiosks' CRL was not reloaded (the previous one stays): %s", error
                    )
                continue
            refusal.due(None, time.monotonic())
            self.loaded_crl = loaded
            self.guarded.tls = tls
            dropped = self.guarded.drop_revoked(loaded.revoked)
            log.info(
                "kiosks' CRL reloaded: %d revoked, %d open connection(s) dropped",
                len(loaded.revoked),
                dropped,
            )

    def stop(self) -> None:
        """Stop serving, drop connections, close the socket."""
        if self.thread is None:
            return
        if self._crl_task is not None:
            self.loop.call_soon_threadsafe(self._crl_task.cancel)
        if self.guarded is not None:
            future = asyncio.run_coroutine_threadsafe(self.guarded.stop(), self.loop)
            with contextlib.suppress(Exception):
                future.result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.thread = None
        self.pool.shutdown(wait=False, cancel_futures=True)
