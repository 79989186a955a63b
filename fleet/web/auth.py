"""Sign-in, sign-out, and the gate every request passes.

Everything but the sign-in page, the static files and ``/healthz`` needs a signed-in
session: a page sends the browser to sign in, the API answers 401. ``/metrics``
also takes a bearer token, for Prometheus. Commands need the operator role and the
session's CSRF token in ``X-CSRF-Token``; the session cookie is ``HttpOnly``,
``SameSite=Strict`` and, over HTTPS, ``Secure``.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

from aiohttp import web

from fleet.accounts import DEVICE_LIFETIME, Role, SignedIn
from fleet.web.context import context_of
from fleet.web.pages import login_page

COOKIE = "fleet_session"
#: Marks a browser the user signed in from: guessing elsewhere does not pause it.
DEVICE_COOKIE = "fleet_device"
USER = web.RequestKey("user", SignedIn)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _refused(request: web.Request) -> web.StreamResponse:
    if request.path.startswith("/api/") or request.path == "/metrics":
        return web.json_response({"error": "sign in first"}, status=401)
    target = request.path_qs if request.method == "GET" else "/"
    raise web.HTTPSeeOther(f"/login?next={quote(target, safe='')}")


def _bearer_ok(request: web.Request) -> bool:
    token = context_of(request).metrics_token
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@web.middleware
async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let a request through only for a signed-in user (or to the public paths)."""
    if request.path in ("/login", "/healthz") or request.path.startswith("/static/"):
        return await handler(request)
    if request.path == "/metrics" and _bearer_ok(request):
        return await handler(request)
    context = context_of(request)
    token = request.cookies.get(COOKIE)
    user = await context.run(context.accounts.session, token, context.clock()) if token else None
    if user is None:
        return _refused(request)
    request[USER] = user
    return await handler(request)


@web.middleware
async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every answer: scripts and styles from this server only."""
    try:
        response = await handler(request)
    except web.HTTPException as error:
        response = error
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none';"
        " form-action 'self'; object-src 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    if isinstance(response, web.HTTPException):
        raise response
    return response


def require_operator(request: web.Request) -> SignedIn:
    """The signed-in operator making a command, who sent the session's CSRF token."""
    user = request[USER]
    given = request.headers.get("X-CSRF-Token", "")
    if not hmac.compare_digest(given.encode(), user.csrf.encode()):
        raise web.HTTPForbidden(
            text='{"error": "missing or wrong CSRF token"}', content_type="application/json"
        )
    if user.role is not Role.OPERATOR:
        raise web.HTTPForbidden(
            text='{"error": "commands need the operator role"}', content_type="application/json"
        )
    return user


def _local(target: str | None) -> str:
    """Only a path on this server may be where sign-in leads (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


async def show_login(request: web.Request) -> web.Response:
    """The sign-in form."""
    failed = "failed" in request.query
    return web.Response(
        text=login_page(_local(request.query.get("next")), failed),
        content_type="text/html",
        status=401 if failed else 200,
    )


async def login(request: web.Request) -> web.StreamResponse:
    """Check the name and password; a session cookie and the page asked for, or the form.

    A sign-in posted from another site is refused (browsers say so in Sec-Fetch-Site):
    it would sign the user's browser in as someone else and replace their device cookie.
    """
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        raise web.HTTPForbidden(text="sign in on the dashboard's own sign-in page")
    context = context_of(request)
    form = await request.post()
    name, password = str(form.get("name", ""))[:64], str(form.get("password", ""))[:1024]
    target = _local(str(form.get("next", "/")))
    device = request.cookies.get(DEVICE_COOKIE, "")[:128] or None
    accounts = context.accounts
    token = await context.run(accounts.sign_in, name, password, context.clock(), device)
    if token is not None:
        device = await context.run(accounts.trust_device, token, device, context.clock())
    if token is None or device is None:  # device None: a new password came in between
        raise web.HTTPSeeOther(f"/login?failed=1&next={quote(target, safe='')}")
    response = web.HTTPSeeOther(target)
    for cookie, value, lifetime in (
        (COOKIE, token, accounts.limits.lifetime),
        (DEVICE_COOKIE, device, DEVICE_LIFETIME),
    ):
        response.set_cookie(
            cookie,
            value,
            httponly=True,
            samesite="Strict",
            secure=context.secure_cookies,
            path="/",
            max_age=int(lifetime),
        )
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session (the form carries the CSRF token)."""
    context = context_of(request)
    user = request[USER]
    form = await request.post()
    if not hmac.compare_digest(str(form.get("csrf", "")).encode(), user.csrf.encode()):
        raise web.HTTPForbidden(text="missing or wrong CSRF token")
    await context.run(context.accounts.sign_out, request.cookies[COOKIE], context.clock())
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response
