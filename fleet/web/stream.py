"""Live updates for open dashboards: server-sent events.

One task per server looks at the database's change marker (:func:`fleet.views.change_marker`)
every ``stream_poll`` seconds and wakes every open stream when it moved, so what any
instance stored (another instance's ingest included) reaches every browser. A stream
sends ``change`` when there is something new, a comment every 15 s to keep proxies
from closing it, and ``signed-out`` (then ends) when its session has expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from fleet import views
from fleet.web.auth import COOKIE
from fleet.web.context import WebContext, context_of

log = logging.getLogger(__name__)

KEEPALIVE = 15.0


class Broadcaster:
    """Looks for changes; wakes the streams."""

    def __init__(self, context: WebContext) -> None:
        self.context = context
        self.version = 0
        self.closing = False
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self, _app: web.Application) -> None:
        """Start looking (an aiohttp startup hook)."""
        self._task = asyncio.create_task(self._watch())

    async def closing_down(self, _app: web.Application) -> None:
        """End every open stream (an aiohttp shutdown hook): the server is stopping."""
        async with self._changed:
            self.closing = True
            self._changed.notify_all()

    async def stop(self, _app: web.Application) -> None:
        """Stop looking (an aiohttp cleanup hook)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        last = None
        while True:
            try:
                marker = await self.context.run(views.change_marker, self.context.store)
            except Exception as error:  # the database is away: try again next time
                log.warning("cannot look for changes: %s", error)
                marker = last
            if marker != last:
                last = marker
                async with self._changed:
                    self.version += 1
                    self._changed.notify_all()
            await asyncio.sleep(self.context.stream_poll)

    async def wait(self, seen: int, timeout: float) -> int:
        """The version after ``seen`` (or ``seen`` again after ``timeout``)."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.version != seen or self.closing), timeout
                )
            return self.version


BROADCASTER = web.AppKey("broadcaster", Broadcaster)


async def stream(request: web.Request) -> web.StreamResponse:
    """``GET /api/stream``: ``change`` events while the session lasts."""
    context = context_of(request)
    broadcaster = request.app[BROADCASTER]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a proxy that buffers would hold the events back
        }
    )
    await response.prepare(request)
    await response.write(b"retry: 3000\n\nevent: change\ndata: 0\n\n")
    seen = broadcaster.version
    token = request.cookies.get(COOKIE, "")
    try:
        while True:
            version = await broadcaster.wait(seen, KEEPALIVE)
            if broadcaster.closing:
                break
            if version != seen:
                seen = version
                await response.write(f"event: change\ndata: {version}\n\n".encode())
                continue
            if await context.run(context.accounts.session, token, context.clock()) is None:
                await response.write(b"event: signed-out\ndata: 0\n\n")
                break
            await response.write(b": still here\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response
