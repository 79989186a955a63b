"""What every request handler needs, in one object on the application."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from fleet.accounts import Accounts
from fleet.metrics import Metrics
from fleet.store import Store
from protocol import telemetry as tm

T = TypeVar("T")

#: Sends a command to a kiosk; whether the broker took it.
Commander = Callable[[str, tm.Command, tm.CommandMessage], bool]


@dataclass
class WebContext:
    """The store, accounts, metrics and the command sender, shared by the handlers."""

    store: Store
    accounts: Accounts
    metrics: Metrics
    commander: Commander
    #: Cookies only over HTTPS (true whenever the server has a certificate).
    secure_cookies: bool = False
    #: A bearer token Prometheus may scrape ``/metrics`` with (else a signed-in session).
    metrics_token: str | None = field(default=None, repr=False)
    #: Seconds between looks for changes to push to open dashboards.
    stream_poll: float = 1.0
    clock: Callable[[], float] = time.time
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(8, thread_name_prefix="fleet-web")
    )

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking database work off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, lambda: function(*args, **kwargs))


CONTEXT = web.AppKey("context", WebContext)


def context_of(request: web.Request) -> WebContext:
    """The context of the application serving ``request``."""
    return request.app[CONTEXT]
