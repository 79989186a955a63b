"""The web application: pages, the JSON API, commands, the live stream, metrics.

| path | what |
| --- | --- |
| ``GET /``, ``/kiosks/{id}``, ``/alerts`` | the pages |
| ``GET /api/fleet?site=&status=&offset=`` | the fleet at a glance |
| ``GET /api/kiosks/{id}`` | one kiosk: health series, events, alerts, commands |
| ``GET /api/events?kiosk=&kind=&card=&limit=`` | events, newest first |
| ``GET /api/alerts?open=1&kiosk=`` | alerts, open first |
| ``GET /api/audit`` | who did what |
| ``POST /api/kiosks/{id}/maintenance`` ``{"on": true}`` | operator + CSRF |
| ``POST /api/kiosks/{id}/rebirth`` | operator + CSRF |
| ``GET /api/stream`` | server-sent events |
| ``GET /metrics`` | Prometheus |
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fleet import views
from fleet.web import auth
from fleet.web.context import CONTEXT, WebContext, context_of
from fleet.web.pages import shell
from fleet.web.stream import BROADCASTER, Broadcaster, stream
from protocol import telemetry as tm

STATIC = Path(__file__).resolve().parent / "static"
#: Largest request body (a command is a few bytes; a sign-in form a few hundred).
MAX_BODY = 16 * 1024


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _number(request: web.Request, name: str, default: int, high: int) -> int:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{name} must be a whole number"}),
            content_type="application/json",
        ) from None
    return max(0, min(value, high))


async def fleet_page(request: web.Request) -> web.Response:
    """The fleet at a glance."""
    return web.Response(text=shell("fleet", "Fleet", request[auth.USER]), content_type="text/html")


async def alerts_page(request: web.Request) -> web.Response:
    """The alerts."""
    user = request[auth.USER]
    return web.Response(text=shell("alerts", "Alerts", user), content_type="text/html")


async def kiosk_page(request: web.Request) -> web.Response:
    """One kiosk."""
    kiosk = request.match_info["kiosk"]
    user = request[auth.USER]
    return web.Response(
        text=shell("kiosk", f"Kiosk {kiosk}", user, kiosk=kiosk), content_type="text/html"
    )


async def api_me(request: web.Request) -> web.Response:
    """Who is signed in (the script shows the buttons an operator may use)."""
    user = request[auth.USER]
    return _json({"user": user.user, "role": str(user.role), "csrf": user.csrf})


async def api_fleet(request: web.Request) -> web.Response:
    """``GET /api/fleet``."""
    context = context_of(request)
    status = request.query.get("status") or None
    if status is not None and status not in views.STATUS_FILTERS:
        return _json({"error": f"status is one of {', '.join(views.STATUS_FILTERS)}"}, 400)
    data = await context.run(
        views.fleet,
        context.store,
        context.clock(),
        site=request.query.get("site") or None,
        status=status,
        offset=_number(request, "offset", 0, 10**9),
        limit=_number(request, "limit", views.PAGE, views.PAGE),
    )
    return _json(data)


async def api_kiosk(request: web.Request) -> web.Response:
    """``GET /api/kiosks/{id}``."""
    context = context_of(request)
    hours = _number(request, "hours", 24, 24 * 90)
    data = await context.run(
        views.kiosk, context.store, request.match_info["kiosk"], context.clock(), hours=hours
    )
    return _json(data) if data is not None else _json({"error": "no such kiosk"}, 404)


async def api_events(request: web.Request) -> web.Response:
    """``GET /api/events``."""
    context = context_of(request)
    q = request.query
    data = await context.run(
        views.events,
        context.store,
        kiosk=q.get("kiosk") or None,
        kind=q.get("kind") or None,
        card=q.get("card") or None,
        limit=_number(request, "limit", 200, 5000),
    )
    return _json(data)


async def api_alerts(request: web.Request) -> web.Response:
    """``GET /api/alerts``."""
    context = context_of(request)
    data = await context.run(
        views.alerts,
        context.store,
        open_only=request.query.get("open") in ("1", "true"),
        kiosk=request.query.get("kiosk") or None,
        limit=_number(request, "limit", 200, 5000),
    )
    return _json(data)


async def api_audit(request: web.Request) -> web.Response:
    """``GET /api/audit``."""
    context = context_of(request)
    data = await context.run(views.audit, context.store, limit=_number(request, "limit", 200, 5000))
    return _json(data)


async def _command(request: web.Request, command: tm.Command, on: bool | None) -> web.Response:
    context = context_of(request)
    user = auth.require_operator(request)
    kiosk = request.match_info["kiosk"]
    known = await context.run(views.kiosk_exists, context.store, kiosk)
    if not known:
        return _json({"error": "no such kiosk"}, 404)
    now = context.clock()
    order = tm.CommandMessage(id=str(uuid.uuid4()), at=views.moment(now), by=user.user, on=on)
    sent = await context.run(context.commander, kiosk, command, order)
    what = f"{command}" + ("" if on is None else (" on" if on else " off"))
    await context.run(
        context.accounts.audit,
        now,
        user.user,
        "command" if sent else "command-not-sent",
        kiosk_id=kiosk,
        command_id=order.id,
        detail=what if sent else f"{what}: the broker could not be reached",
    )
    if not sent:
        return _json({"error": "the broker could not be reached; nothing was sent"}, 503)
    return _json({"id": order.id, "command": what, "sent": True}, 202)


async def api_maintenance(request: web.Request) -> web.Response:
    """``POST /api/kiosks/{id}/maintenance`` with ``{"on": true|false}``."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("on"), bool):
        auth.require_operator(request)
        return _json({"error": 'send {"on": true} or {"on": false}'}, 400)
    return await _command(request, tm.Command.MAINTENANCE, body["on"])


async def api_rebirth(request: web.Request) -> web.Response:
    """``POST /api/kiosks/{id}/rebirth``."""
    return await _command(request, tm.Command.REBIRTH, None)


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics`` in Prometheus's text format."""
    registry = context_of(request).metrics.registry
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


async def healthz(_request: web.Request) -> web.Response:
    """For a load balancer: the process answers."""
    return web.Response(text="ok\n")


def build_app(context: WebContext) -> web.Application:
    """The application with its routes, gate, headers and live stream."""
    app = web.Application(middlewares=[auth.headers, auth.gate], client_max_size=MAX_BODY)
    app[CONTEXT] = context
    broadcaster = Broadcaster(context)
    app[BROADCASTER] = broadcaster
    app.on_startup.append(broadcaster.start)
    app.on_shutdown.append(broadcaster.closing_down)
    app.on_cleanup.append(broadcaster.stop)
    app.router.add_get("/login", auth.show_login)
    app.router.add_post("/login", auth.login)
    app.router.add_post("/logout", auth.logout)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", fleet_page)
    app.router.add_get("/alerts", alerts_page)
    app.router.add_get("/kiosks/{kiosk}", kiosk_page)
    app.router.add_get("/api/me", api_me)
    app.router.add_get("/api/fleet", api_fleet)
    app.router.add_get("/api/kiosks/{kiosk}", api_kiosk)
    app.router.add_get("/api/events", api_events)
    app.router.add_get("/api/alerts", api_alerts)
    app.router.add_get("/api/audit", api_audit)
    app.router.add_post("/api/kiosks/{kiosk}/maintenance", api_maintenance)
    app.router.add_post("/api/kiosks/{kiosk}/rebirth", api_rebirth)
    app.router.add_get("/api/stream", stream)
    app.router.add_get("/metrics", metrics)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
    return app
