"""The card service API on aiohttp: routes, strict request reading, problem documents.

Why strict: a request is read exactly as the API describes it or refused, never
guessed at. The body must be JSON (UTF-8, no duplicate members, no lone surrogates,
no NaN, not nested without end), at most ``max_body`` bytes, sent with a
Content-Length; a GET carries none. Every refusal, including an unknown path (404),
a wrong method (405) and a failure of ours (500), is an RFC 9457 problem document
with ``type`` and ``code``. The kiosk is the common name of its verified client
certificate, read from the TLS connection. The service's decisions block (database,
identity provider), so they run on a thread pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from cardservice.answers import Answer, Call, fingerprint
from cardservice.problems import Problem
from cardservice.service import CardService
from protocol.problems import ProblemCode

log = logging.getLogger(__name__)

_SERVICE = web.AppKey("service", CardService)
_LIMITS = web.AppKey("limits", object)
_POOL = web.AppKey("pool", ThreadPoolExecutor)
#: The longest reference (orderRef, unlockId) a path may carry.
MAX_REFERENCE = 200


@dataclass(frozen=True)
class ServerLimits:
    """What one connection and one request may take."""

    #: Open connections at once, TLS handshakes included; more are dropped at once.
    max_connections: int = 4096
    #: Seconds for the TLS handshake.
    handshake_timeout: float = 10.0
    #: Seconds for a request's headers to arrive, from the connection or the previous answer.
    header_timeout: float = 10.0
    #: Seconds for the body to arrive once the headers are in.
    body_timeout: float = 10.0
    #: Bytes of a request body.
    max_body: int = 16 * 1024
    #: Connections the kernel may queue before they are accepted.
    backlog: int = 1024
    #: Threads running the service's decisions.
    workers: int = 16


def problem_response(answer: Answer, *, close: bool = False) -> web.Response:
    """An answer as an HTTP response."""
    kind = "application/problem+json" if answer.is_problem else "application/json"
    response = web.Response(
        body=json.dumps(answer.body, separators=(",", ":")).encode(),
        status=answer.status,
        headers={"Content-Type": kind, "Cache-Control": "no-store"},
    )
    if close:
        response.force_close()
    return response


def refusal(code: ProblemCode, detail: str | None = None, *, close: bool = False) -> web.Response:
    """A problem document for ``code``."""
    return problem_response(Answer.refusal(Problem(code, detail)), close=close)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise ValueError("a member is named twice")
    return dict(pairs)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def decode_json(raw: bytes) -> object:
    """The body's JSON value, or ``invalid-request`` saying what is wrong with it."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant
        )
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # a lone surrogate fails here
    except RecursionError:
        raise Problem(ProblemCode.INVALID_REQUEST, "the body is nested too deeply") from None
    except (ValueError, UnicodeError):
        raise Problem(ProblemCode.INVALID_REQUEST, "the body is not valid JSON in UTF-8") from None
    return value


def kiosk_of(request: web.Request) -> str:
    """The calling kiosk: the common name of its verified client certificate."""
    transport = request.transport
    certificate = transport.get_extra_info("peercert") if transport is not None else None
    if not certificate:
        raise Problem(ProblemCode.CLIENT_CERTIFICATE_REQUIRED)
    for rdn in certificate.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    raise Problem(ProblemCode.CLIENT_CERTIFICATE_REQUIRED, "the certificate has no common name")


def _reference(request: web.Request, name: str, unknown: ProblemCode) -> str:
    value = request.match_info[name]
    try:
        value.encode("utf-8")
    except UnicodeError:
        raise Problem(unknown) from None
    if not 0 < len(value) <= MAX_REFERENCE or not value.isprintable():
        raise Problem(unknown)
    return value


async def _body(request: web.Request) -> object:
    """Read and decode a POST body within the limits."""
    limits: ServerLimits = request.app[_LIMITS]  # type: ignore[assignment]
    if "Transfer-Encoding" in request.headers:
        raise Problem(
            ProblemCode.INVALID_REQUEST, "send the body with a Content-Length, not chunked"
        )
    if (request.content_length or 0) > limits.max_body:
        raise Problem(
            ProblemCode.REQUEST_TOO_LARGE, f"a body may have at most {limits.max_body} bytes"
        )
    if request.body_exists and request.content_type not in (
        "application/json",
        "application/problem+json",
    ):
        raise Problem(ProblemCode.INVALID_REQUEST, "the body must be application/json")
    try:
        async with asyncio.timeout(limits.body_timeout):
            raw = await request.read()
    except TimeoutError:
        raise Problem(ProblemCode.INVALID_REQUEST, "the body did not arrive in time") from None
    return decode_json(raw)


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    try:
        return str(uuid.UUID(key))
    except ValueError:
        raise Problem(ProblemCode.INVALID_REQUEST, "the Idempotency-Key must be a UUID") from None


async def _run(request: web.Request, decide: Callable[[], Answer]) -> web.Response:
    """Run a blocking decision on the pool; storage failures are a clean 503."""

    def guarded() -> Answer:
        try:
            return decide()
        except SQLAlchemyError as error:
            # Disk full, read-only or unreachable database: refuse cleanly, keep serving.
            log.error(
                "storage failure on %s %s: %s", request.method, request.path, type(error).__name__
            )
            return Answer.refusal(
                Problem(ProblemCode.STORAGE_UNAVAILABLE, "the service's database cannot be used")
            )

    loop = asyncio.get_running_loop()
    answer = await loop.run_in_executor(request.app[_POOL], guarded)
    return problem_response(answer)


def _kiosk_handler(
    operation: Callable[[CardService, Call, web.Request, object], Answer],
) -> Callable[[web.Request], Any]:
    """A kiosk route: certificate, body (POST) or none (GET), Idempotency-Key, then the decision."""

    async def handle(request: web.Request) -> web.Response:
        try:
            kiosk = kiosk_of(request)
            if request.method == "GET":
                if request.body_exists or "Transfer-Encoding" in request.headers:
                    return refusal(ProblemCode.INVALID_REQUEST, "a GET takes no body", close=True)
                body: object = None
            else:
                body = await _body(request)
            key = _idempotency_key(request) if request.method == "POST" else None
            call = Call(kiosk, key, fingerprint(request.method, request.path, body))
        except Problem as problem:
            return problem_response(Answer.refusal(problem), close=True)
        service = request.app[_SERVICE]
        return await _run(request, lambda: operation(service, call, request, body))

    return handle


def _in_path(
    name: str, unknown: ProblemCode, act: Callable[[CardService, Call, str, object], Answer]
) -> Callable[[CardService, Call, web.Request, object], Answer]:
    def operation(service: CardService, call: Call, request: web.Request, body: object) -> Answer:
        try:
            reference = _reference(request, name, unknown)
        except Problem as problem:
            return Answer.refusal(problem)
        return act(service, call, reference, body)

    return operation


async def _health(request: web.Request) -> web.Response:
    if request.body_exists or "Transfer-Encoding" in request.headers:
        return refusal(ProblemCode.INVALID_REQUEST, "a GET takes no body", close=True)
    return await _run(request, request.app[_SERVICE].health)


@web.middleware
async def _problems(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    """Unknown paths, wrong methods, too-large bodies and our own failures as problem documents."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed:
        return refusal(ProblemCode.METHOD_NOT_ALLOWED, close=request.body_exists)
    except web.HTTPNotFound:
        return refusal(ProblemCode.NOT_FOUND, close=request.body_exists)
    except web.HTTPRequestEntityTooLarge:
        return refusal(ProblemCode.REQUEST_TOO_LARGE, close=True)
    except web.HTTPException as error:
        log.info("HTTP %s on %s %s", error.status, request.method, request.path)
        return refusal(ProblemCode.INVALID_REQUEST, error.reason, close=True)
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        return refusal(ProblemCode.INTERNAL_ERROR, close=True)


def build_app(
    service: CardService, limits: ServerLimits, pool: ThreadPoolExecutor
) -> web.Application:
    """The application: the six operations of docs/cardservice-api.yaml and nothing else."""
    app = web.Application(client_max_size=limits.max_body, middlewares=[_problems])
    app[_SERVICE] = service
    app[_LIMITS] = limits
    app[_POOL] = pool
    end_user_ip: Callable[[web.Request], str] = lambda request: request.remote or "unknown"  # noqa: E731
    routes = app.router
    routes.add_get("/v1/health", _health, allow_head=False)
    routes.add_post(
        "/v1/logins",
        _kiosk_handler(
            lambda s, call, request, body: s.start_login(call, body, end_user_ip(request))
        ),
    )
    routes.add_get(
        "/v1/logins/{orderRef}",
        _kiosk_handler(
            _in_path(
                "orderRef",
                ProblemCode.UNKNOWN_LOGIN,
                lambda s, call, ref, body: s.login_status(call, ref),
            )
        ),
        allow_head=False,
    )
    routes.add_post(
        "/v1/logins/{orderRef}/cancel",
        _kiosk_handler(
            _in_path(
                "orderRef",
                ProblemCode.UNKNOWN_LOGIN,
                lambda s, call, ref, body: s.cancel_login(call, ref),
            )
        ),
    )
    routes.add_post(
        "/v1/unlocks", _kiosk_handler(lambda s, call, request, body: s.request_unlock(call, body))
    )
    routes.add_post(
        "/v1/unlocks/{unlockId}/outcome",
        _kiosk_handler(
            _in_path(
                "unlockId",
                ProblemCode.UNKNOWN_UNLOCK,
                lambda s, call, ref, body: s.report_outcome(call, ref, body),
            )
        ),
    )
    return app
