"""The simulated identity provider over HTTPS: the RP API (mutual TLS), the phone API and page.

RP routes (``/rp/v1/auth``, ``collect``, ``cancel``) need a client certificate the
provider's RP CA issued, as BankID's and Mobilt SITHS's do. The phone routes
(``/v1/phone/...``, ``/phone``) need none: they stand in for the app on the holder's
phone. Refusals of the RP API are ``{"errorCode", "details"}`` as in BankID's API.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from protocol import identity_provider_api as rp
from protocol.cardservice_api import describe, from_wire, to_wire
from protocol.cardservice_values import LoginStatusValue
from sim.identity_provider import phone_api as phone
from sim.identity_provider.orders import Order, Orders, PhoneRefusal
from sim.identity_provider.page import PHONE_PAGE

_ORDERS = web.AppKey("orders", Orders)


def provider_tls_context(cert: Path, key: Path, rp_ca: Path) -> ssl.SSLContext:
    """Server TLS that asks for (and verifies) relying parties' certificates."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.load_verify_locations(rp_ca)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def _rp_error(status: int, code: str, details: str = "") -> web.Response:
    return web.json_response(to_wire(rp.RpError(error_code=code, details=details)), status=status)


def _phone_error(code: phone.PhoneProblemCode, detail: str = "") -> web.Response:
    body = {"code": code.value, "title": code.value, "status": phone.PHONE_STATUS[code]}
    if detail:
        body["detail"] = detail
    return web.Response(
        body=json.dumps(body).encode(),
        status=phone.PHONE_STATUS[code],
        headers={"Content-Type": "application/problem+json"},
    )


async def _read(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        return from_wire(model, await request.json())
    except (ValueError, ValidationError) as error:
        detail = describe(error) if isinstance(error, ValidationError) else "the body is not JSON"
        raise web.HTTPBadRequest(text=detail) from None


def _collected(order: Order) -> rp.Collected:
    completion = None
    if order.status == LoginStatusValue.COMPLETE and order.completed_by is not None:
        who = order.completed_by
        completion = rp.CompletionData(
            user=rp.CompletedUser(
                personal_number=who.personal_number, name=who.name, hsa_id=who.hsa_id
            )
        )
    return rp.Collected(
        order_ref=order.order_ref,
        status=order.status,
        hint_code=order.hint,
        completion_data=completion,
    )


def _relying_party(
    act: Callable[[Orders, Any], BaseModel], model: type[BaseModel]
) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        if not request.transport or not request.transport.get_extra_info("peercert"):
            return _rp_error(401, "unauthorized", "a relying-party certificate is required")
        try:
            body = await _read(request, model)
            return web.json_response(to_wire(act(request.app[_ORDERS], body)))
        except web.HTTPBadRequest as error:
            return _rp_error(400, "invalidParameters", error.text or "")
        except PhoneRefusal:
            return _rp_error(404, "notFound", "no such order")

    return handle


def _started(orders: Orders, _body: rp.AuthRequest) -> rp.AuthStarted:
    order = orders.start()
    return rp.AuthStarted(
        order_ref=order.order_ref,
        auto_start_token=order.qr_token,
        qr_start_token=order.qr_token,
        qr_start_secret=order.qr_secret,
    )


def _cancelled(orders: Orders, body: rp.OrderRequest) -> rp.CancelAnswer:
    orders.cancel(body.order_ref)
    return rp.CancelAnswer()


def _phone(
    act: Callable[[Orders, web.Request, Any], BaseModel], model: type[BaseModel]
) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        try:
            body = await _read(request, model)
            return web.json_response(to_wire(act(request.app[_ORDERS], request, body)))
        except web.HTTPBadRequest as error:
            return _phone_error(phone.PhoneProblemCode.INVALID_REQUEST, error.text or "")
        except PhoneRefusal as refusal:
            return _phone_error(refusal.code, refusal.detail)

    return handle


def _scan(
    orders: Orders, _request: web.Request, body: phone.PhoneScanRequest
) -> phone.PhoneScanResult:
    order = orders.scan(body.qr_content, body.personal_identity_number)
    return phone.PhoneScanResult(order_ref=order.order_ref, hint_code=order.hint)


def _decide(approve: bool) -> Callable[[Orders, web.Request, Any], BaseModel]:
    def act(orders: Orders, request: web.Request, body: phone.PhoneDecision) -> phone.PhoneResult:
        order = orders.decide(
            request.match_info["orderRef"], body.personal_identity_number, approve=approve
        )
        return phone.PhoneResult(order_ref=order.order_ref, status=order.status)

    return act


async def _identities(request: web.Request) -> web.Response:
    everyone = sorted(request.app[_ORDERS].identities.values(), key=lambda who: who.name)
    listed = phone.PhoneIdentities(
        identities=tuple(
            phone.PhoneIdentity(
                personal_identity_number=who.personal_number, name=who.name, hsa_id=who.hsa_id
            )
            for who in everyone
        )
    )
    return web.json_response(to_wire(listed))


async def _page(_request: web.Request) -> web.Response:
    return web.Response(text=PHONE_PAGE, content_type="text/html")


def build_provider_app(orders: Orders) -> web.Application:
    """The simulator's routes."""
    app = web.Application(client_max_size=16 * 1024)
    app[_ORDERS] = orders
    app.router.add_post(rp.AUTH_PATH, _relying_party(_started, rp.AuthRequest))
    app.router.add_post(
        rp.COLLECT_PATH,
        _relying_party(lambda o, b: _collected(o.collect(b.order_ref)), rp.OrderRequest),
    )
    app.router.add_post(rp.CANCEL_PATH, _relying_party(_cancelled, rp.OrderRequest))
    app.router.add_get("/v1/phone/identities", _identities)
    app.router.add_post("/v1/phone/scan", _phone(_scan, phone.PhoneScanRequest))
    app.router.add_post("/v1/phone/{orderRef}/approve", _phone(_decide(True), phone.PhoneDecision))
    app.router.add_post("/v1/phone/{orderRef}/decline", _phone(_decide(False), phone.PhoneDecision))
    app.router.add_get("/phone", _page)
    return app


class ProviderServer:
    """The simulator on its own event loop thread (in a test process, or in ``serve``)."""

    def __init__(
        self, orders: Orders, tls: ssl.SSLContext, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.orders = orders
        self.tls = tls
        self.host = host
        self.requested_port = port
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"https://{self.host}:{self.port}"

    def start(self) -> ProviderServer:
        """Listen now (a port in use is raised here); serve on a daemon thread."""
        outcome: list[BaseException | int] = []
        ready = threading.Event()

        async def begin() -> int:
            self.runner = web.AppRunner(
                build_provider_app(self.orders), access_log=None, handle_signals=False
            )
            await self.runner.setup()
            site = web.TCPSite(self.runner, self.host, self.requested_port, ssl_context=self.tls)
            await site.start()
            return int(self.runner.addresses[0][1])

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                outcome.append(self.loop.run_until_complete(begin()))
            except BaseException as error:  # reported to start()'s caller
                outcome.append(error)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="identity-provider", daemon=True)
        self.thread.start()
        ready.wait()
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        self.port = outcome[0]
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self.thread is None:
            return
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.thread = None
