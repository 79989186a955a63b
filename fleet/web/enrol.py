"""The enrolment listener's application (docs/enrolment-api.md): its own HTTPS port.

Why a listener of its own: it asks every client for a device certificate
(``CERT_OPTIONAL``, verified against the device CA) and has no sign-in gate, while the
dashboard has sessions and no client certificates; keeping them apart keeps each simple.
Like the card service, a route that needs the kiosk reads the verified peer
certificate from the TLS connection.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from cryptography import x509
from pydantic import BaseModel, ValidationError

from fleet.enrolment import Enrolment, Refused, SiteSettings
from protocol import enrolment as en
from protocol.cardservice_api import describe

T = TypeVar("T")
#: Largest request body (a CSR is under a kilobyte).
MAX_BODY = 16 * 1024


@dataclass
class EnrolContext:
    """What the handlers share: the operations, the site settings, the fleet's TLS CA."""

    enrolment: Enrolment | None
    site: SiteSettings | None
    tls_ca_pem: str | None
    clock: Callable[[], float] = time.time
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(4, thread_name_prefix="fleet-enrol")
    )

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run blocking database work off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, lambda: function(*args))


ENROL_CONTEXT = web.AppKey("enrol", EnrolContext)


def enrol_tls_context(cert: Path, key: Path, device_ca: Path) -> ssl.SSLContext:
    """TLS 1.2+ that asks for a device certificate and verifies one that is given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.load_verify_locations(device_ca)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def _problem(code: en.EnrolProblem, detail: str | None = None) -> web.Response:
    document = en.problem(code, detail)
    return web.json_response(
        en.to_wire(document), status=document.status, content_type="application/problem+json"
    )


def _answer(body: BaseModel, status: int) -> web.Response:
    return web.json_response(en.to_wire(body), status=status)


async def _body(request: web.Request, model: type[Any]) -> Any:
    try:
        data = json.loads(await request.read())
    except ValueError:
        raise Refused(en.EnrolProblem.INVALID_REQUEST, "the body is not JSON") from None
    try:
        return model.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as error:
        raise Refused(en.EnrolProblem.INVALID_REQUEST, describe(error)) from None


def _peer(request: web.Request) -> x509.Certificate:
    transport = request.transport
    tls = transport.get_extra_info("ssl_object") if transport is not None else None
    der = tls.getpeercert(binary_form=True) if tls is not None else None
    if not der:
        raise Refused(en.EnrolProblem.CLIENT_CERTIFICATE_REQUIRED)
    return x509.load_der_x509_certificate(der)


def _ready(request: web.Request) -> tuple[EnrolContext, Enrolment]:
    context = request.app[ENROL_CONTEXT]
    if context.enrolment is None:
        raise Refused(en.EnrolProblem.NOT_ENABLED)
    return context, context.enrolment


@web.middleware
async def refusals(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    """Every :class:`Refused` becomes its problem document."""
    try:
        return await handler(request)
    except Refused as refused:
        return _problem(refused.code, refused.detail)


async def enrol(request: web.Request) -> web.Response:
    """``POST /v1/enrol``."""
    context, enrolment = _ready(request)
    if context.site is None:
        raise Refused(en.EnrolProblem.NOT_ENABLED, "the fleet has no site settings")
    body = await _body(request, en.EnrolRequest)
    answer = await context.run(enrolment.enrol, body, context.site, context.clock())
    return _answer(answer, 201)


async def renew(request: web.Request) -> web.Response:
    """``POST /v1/renew`` (mutual TLS)."""
    context, enrolment = _ready(request)
    peer = _peer(request)
    body = await _body(request, en.RenewRequest)
    return _answer(await context.run(enrolment.renew, peer, body, context.clock()), 201)


async def decommission(request: web.Request) -> web.Response:
    """``POST /v1/decommission`` (mutual TLS)."""
    context, enrolment = _ready(request)
    peer = _peer(request)
    return _answer(await context.run(enrolment.decommission, peer, context.clock()), 200)


async def crl(request: web.Request) -> web.Response:
    """``GET /v1/crl``: the device CA's CRL, signed now."""
    context, enrolment = _ready(request)
    text = await context.run(enrolment.crl, context.clock())
    return web.Response(text=text, content_type="application/x-pem-file")


async def tls_ca(request: web.Request) -> web.Response:
    """``GET /v1/tls-ca``: the fleet's TLS CA, which the token pins by its hash."""
    context = request.app[ENROL_CONTEXT]
    if context.tls_ca_pem is None:
        raise Refused(en.EnrolProblem.NOT_ENABLED, "the fleet's TLS CA is not configured")
    return web.Response(text=context.tls_ca_pem, content_type="application/x-pem-file")


def build_enrol_app(context: EnrolContext) -> web.Application:
    """The enrolment routes."""
    app = web.Application(middlewares=[refusals], client_max_size=MAX_BODY)
    app[ENROL_CONTEXT] = context
    app.router.add_post(en.ENROL_PATH, enrol)
    app.router.add_post(en.RENEW_PATH, renew)
    app.router.add_post(en.DECOMMISSION_PATH, decommission)
    app.router.add_get(en.CRL_PATH, crl)
    app.router.add_get(en.TLS_CA_PATH, tls_ca)
    return app
