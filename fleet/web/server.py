"""The web server on an event loop thread of its own (``serve``, the tests, the demo)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

from fleet.web.app import build_app
from fleet.web.context import WebContext
from fleet.web.enrol import EnrolContext

#: Seconds requests under way get to finish when the server stops.
SHUTDOWN_TIMEOUT = 3.0


class WebServer:
    """aiohttp's runner and one site; HTTPS when given a TLS context.

    The dashboard's application by default; the enrolment listener passes its own.
    """

    def __init__(
        self,
        context: WebContext | EnrolContext,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        factory: Callable[[Any], web.Application] = build_app,
    ) -> None:
        self.context = context
        self.factory = factory
        self.host = host
        self.requested_port = port
        self.tls = tls
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base address (loopback when listening on every address)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def start(self) -> WebServer:
        """Listen now (a port in use is raised here), serve on a daemon thread."""
        ready: list[BaseException | int] = []
        started = threading.Event()

        async def begin() -> int:
            self.runner = web.AppRunner(
                self.factory(self.context),
                access_log=None,
                handle_signals=False,
                shutdown_timeout=SHUTDOWN_TIMEOUT,
            )
            await self.runner.setup()
            site = web.TCPSite(
                self.runner, self.host, self.requested_port, ssl_context=self.tls, backlog=512
            )
            await site.start()
            server = site._server  # the bound port, when 0 was asked for
            assert server is not None
            return int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                ready.append(self.loop.run_until_complete(begin()))
            except BaseException as error:  # reported to start()'s caller
                ready.append(error)
                started.set()
                return
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="fleet-web", daemon=True)
        self.thread.start()
        started.wait()
        if isinstance(ready[0], BaseException):
            raise ready[0]
        self.port = ready[0]
        return self

    def stop(self) -> None:
        """Close every connection (open streams too) and the socket."""
        if self.thread is None:
            return
        if self.runner is not None:
            future = asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop)
            with contextlib.suppress(Exception):
                future.result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.thread = None
        self.context.pool.shutdown(wait=False, cancel_futures=True)
