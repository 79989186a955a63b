"""The card service over mutual TLS, and the kiosk's clock against the card service's.

The card service check is the kiosk's own first step: GET ``/v1/health`` trusting only
the configured CA and presenting the device certificate. The clock check reads the
``Date`` header of the card service's answer: an HTTP server stamps every answer with its
time, so no extra service (NTP port, fleet) is needed, and a skew is named in seconds.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from provisioning.selftest import tls
from provisioning.selftest.network_checks import classify, unreachable_words
from provisioning.selftest.results import CheckResult
from provisioning.selftest.target import Target

CARD_SERVICE = ("card-service", "Card service (mutual TLS)")
CLOCK = ("clock", "Clock")
HEALTH_PATH = "/v1/health"
#: Seconds the kiosk's clock may differ from the card service's. NTP keeps a working
#: clock within milliseconds, so a minute apart means time synchronisation is not
#: working; certificate validity and the card service's records are checked to the
#: minute. The ``Date`` header has whole seconds, hence no tighter bound.
CLOCK_TOLERANCE = 60.0
HTTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class HttpsAnswer:
    """One GET's outcome: the answer, or the exception that stopped it; and when it ran."""

    sent: float
    received: float
    status: int | None = None
    date: str | None = None
    body: bytes = b""
    error: BaseException | None = None


def https_get(
    target: Target,
    context: ssl.SSLContext,
    *,
    clock: Callable[[], float] = time.time,
    timeout: float = HTTP_TIMEOUT,
) -> HttpsAnswer:
    """GET the card service's health; never raises for a network or TLS failure."""
    endpoint = target.card_service
    connection = http.client.HTTPSConnection(
        endpoint.host, endpoint.port, context=context, timeout=timeout
    )
    sent = clock()
    try:
        connection.request("GET", HEALTH_PATH, headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read(64 * 1024)
        return HttpsAnswer(sent, clock(), response.status, response.getheader("Date"), body)
    except (OSError, http.client.HTTPException) as error:
        return HttpsAnswer(sent, clock(), error=error)
    finally:
        connection.close()


def _failure_words(target: Target, error: BaseException) -> tuple[str, str]:
    if isinstance(error, ssl.SSLError):
        return tls.tls_words(
            error,
            what="card service",
            ca_key="card_service.ca_file",
            ca_file=target.card_service_ca,
            client_cert=target.client_cert,
        )
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return (
            "the card service closed the connection during TLS: it most likely refused this "
            "kiosk's device certificate",
            f"the device certificate {target.client_cert} may be revoked, expired or from "
            "another fleet: renew it ('kiosk-provision renew') or enrol the kiosk again",
        )
    if isinstance(error, OSError):
        return unreachable_words(
            classify(error), target.card_service, "card service", "card_service.url"
        )
    return (
        f"the card service's answer is not HTTP ({error})",
        "check that card_service.url in kiosk.toml is the card service's address",
    )


def judge_card_service(target: Target, answer: HttpsAnswer) -> CheckResult:
    """What the health request says about the card service and the kiosk's place with it."""
    if answer.error is not None:
        return CheckResult.failed(*CARD_SERVICE, *_failure_words(target, answer.error))
    try:
        status = json.loads(answer.body).get("status")
    except (ValueError, AttributeError):
        status = None
    if answer.status != 200:
        return CheckResult.failed(
            *CARD_SERVICE,
            f"the card service answered HTTP {answer.status} to {HEALTH_PATH}",
            "the card service has a problem of its own: tell facility IT, with this report",
        )
    if status == "maintenance":
        return CheckResult.failed(
            *CARD_SERVICE,
            "the card service is in maintenance mode: kiosks are out of service until it ends",
            "ask facility IT when the maintenance ends; nothing to do on the kiosk",
        )
    if status != "ok":
        return CheckResult.failed(
            *CARD_SERVICE,
            f"{target.card_service_url}{HEALTH_PATH} did not answer like a card service",
            "check that card_service.url in kiosk.toml is the card service's address",
        )
    took = round((answer.received - answer.sent) * 1000)
    return CheckResult.ok(
        *CARD_SERVICE,
        f"{target.card_service} answered 'ok' over mutual TLS in {took} ms",
    )


def check_card_service(target: Target, *, timeout: float = HTTP_TIMEOUT) -> CheckResult:
    """Connect as the kiosk does and ask for the service's health."""
    try:
        context = tls.client_context(target.card_service_ca, target.client_cert, target.client_key)
    except (OSError, ssl.SSLError) as error:
        words = tls.files_words(
            error, target.card_service_ca, target.client_cert, target.client_key
        )
        return CheckResult.failed(*CARD_SERVICE, *words)
    return judge_card_service(target, https_get(target, context, timeout=timeout))


def _clock_context(target: Target) -> ssl.SSLContext:
    """TLS without checking the server, for its ``Date`` only.

    A wrong clock is exactly what makes certificate checks fail, so the clock is read
    without them. The device certificate is still presented where it can be, for a
    service that asks for one.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(OSError, ssl.SSLError):  # the card service check names them
        context.load_cert_chain(target.client_cert, target.client_key)
    return context


def _duration(seconds: float) -> str:
    seconds = round(abs(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 120:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def skew(answer: HttpsAnswer) -> float | None:
    """Seconds the kiosk's clock is ahead of the server's (negative: behind), or ``None``.

    The server stamped its answer between our send and receive; its ``Date`` is whole
    seconds, so its time is taken as the middle of that second.
    """
    if answer.date is None:
        return None
    try:
        server = email.utils.parsedate_to_datetime(answer.date).timestamp() + 0.5
    except (TypeError, ValueError):
        return None
    return (answer.sent + answer.received) / 2 - server


def judge_clock(answer: HttpsAnswer, tolerance: float, synchronised: bool | None) -> CheckResult:
    """Whether the kiosk's clock is within ``tolerance`` seconds of the card service's."""
    difference = skew(answer)
    if difference is None:
        why = "no answer" if answer.error is not None else "no Date in its answer"
        return CheckResult.skipped(*CLOCK, f"the card service's time is unknown ({why})")
    ntp = {True: "; NTP says the clock is synchronised", False: "; NTP says it is NOT synchronised"}
    note = ntp.get(synchronised, "")  # type: ignore[call-overload]
    if abs(difference) <= tolerance:
        return CheckResult.ok(
            *CLOCK,
            f"within {_duration(difference)} of the card service's clock "
            f"(tolerance {_duration(tolerance)}){note}",
        )
    direction = "ahead of" if difference > 0 else "behind"
    return CheckResult.failed(
        *CLOCK,
        f"clock skew: the kiosk's clock is {_duration(difference)} {direction} the card "
        f"service's (tolerance {_duration(tolerance)}){note}",
        "turn on time synchronisation: 'sudo timedatectl set-ntp true', and check that the "
        "network lets NTP (UDP port 123) out or that the site's NTP server is configured in "
        "/etc/systemd/timesyncd.conf; 'timedatectl' then says 'System clock synchronized: yes'",
    )


def check_clock(
    target: Target,
    *,
    clock: Callable[[], float] = time.time,
    tolerance: float = CLOCK_TOLERANCE,
    synchronised: bool | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> CheckResult:
    """Compare ``clock`` (the kiosk's time) with the card service's ``Date``."""
    answer = https_get(target, _clock_context(target), clock=clock, timeout=timeout)
    return judge_clock(answer, tolerance, synchronised)
