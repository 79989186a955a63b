"""The kiosk's client for the card service API (docs/cardservice-api.md), on ``requests``.

Mutual TLS with the device certificate, the service's CA pinned (no other CA
is trusted), connect and read timeouts on every call, and retries with
backoff only where repeating is safe: GETs, and POSTs that carry an
``Idempotency-Key`` (the service answers a repeat with the first answer).
Every failure becomes a typed :mod:`kiosk.cardservice_errors` exception.
Requests are built and answers read with the API models of
:mod:`protocol.cardservice_api`, the same ones the reference service uses.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests
from pydantic import BaseModel, ValidationError
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from kiosk.cardservice_errors import (
    CardServiceFailure,
    CardServiceProtocolError,
    CardServiceTimeout,
    CardServiceUnreachable,
    problem_error,
)
from protocol import cardservice_api as api
from protocol.cardservice_values import HealthStatus, HintCode, LoginStatusValue, Mechanism, PinRole
from protocol.credential import EnvelopeBinding, EnvelopeError, UnlockKey
from protocol.reasons import Outcome, Reason

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class LoginStart:
    """A started login: what the kiosk needs to animate the QR and poll."""

    order_ref: str
    qr_start_token: str
    qr_start_secret: str = field(repr=False)  # the QR's HMAC key: never in logs
    qr_prefix: str
    expires_at: dt.datetime
    poll_interval: float


@dataclass(frozen=True)
class LoginStatus:
    """One poll's answer."""

    order_ref: str
    status: LoginStatusValue
    hint_code: HintCode | None
    holder_name: str | None = None
    hsa_id: str | None = None


@dataclass(frozen=True)
class UnlockCredential:
    """The opened credential: the PUK, or the cryptogram for the card's challenge."""

    unlock_id: str
    mechanism: Mechanism
    secret: bytes = field(repr=False)  # the PUK or cryptogram: never in logs or reprs
    expires_at: dt.datetime


def _request(model: type[Model], **members: object) -> Model:
    """A request body the API accepts, or :class:`CardServiceProtocolError` (not sent).

    Validated under the wire names, so an error names the member as the API does; a
    member given as ``None`` is left out, as the API wants optional members.
    """
    fields = model.model_fields
    wire = {fields[name].alias or name: v for name, v in members.items() if v is not None}
    try:
        return api.from_wire(model, wire)
    except ValidationError as error:
        raise CardServiceProtocolError(
            f"the request does not match the API: {api.describe(error)}"
        ) from None


def _answer(model: type[Model], data: object) -> Model:
    """The service's answer as ``model``, or :class:`CardServiceProtocolError` naming why."""
    try:
        return api.from_wire(model, data)
    except ValidationError as error:
        raise CardServiceProtocolError(
            f"the card service's answer does not match the API: {api.describe(error)}"
        ) from None


def _timed_out(error: requests.exceptions.ConnectionError) -> bool:
    """Whether retries ran out on timeouts (requests reports that as a ConnectionError)."""
    cause = error.args[0] if error.args else None
    reason = getattr(cause, "reason", None) if isinstance(cause, MaxRetryError) else None
    if isinstance(reason, NewConnectionError):  # a subclass of ConnectTimeoutError, oddly
        return False
    return isinstance(reason, TimeoutError | ReadTimeoutError | ConnectTimeoutError)


#: Seconds to wait for a connection (a little over a multiple of 3 s, TCP's retransmit).
CONNECT_TIMEOUT = 3.05
#: Seconds to wait for an answer.
READ_TIMEOUT = 10.0


class CardServiceClient:
    """One kiosk's connection to the card service."""

    def __init__(
        self,
        base_url: str,
        *,
        kiosk_id: str,
        client_cert: tuple[Path, Path] | None,
        ca_file: Path,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        retries: int = 2,
        backoff: float = 0.3,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        #: The common name of the device certificate; unlock envelopes are bound to it.
        self.kiosk_id = kiosk_id
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        # Pinning: only the service's CA, whatever REQUESTS_CA_BUNDLE or proxies say.
        self.session.trust_env = False
        self.ca_file = str(ca_file)
        self.session.verify = self.ca_file
        if client_cert is not None:
            self.session.cert = (str(client_cert[0]), str(client_cert[1]))
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff,
            status_forcelist=(502, 504),
            allowed_methods=frozenset({"GET", "POST"}),
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self.session.headers["Accept"] = "application/json"

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    # -- transport ---------------------------------------------------------------------

    def _call(
        self, method: str, path: str, request: BaseModel | None = None, key: str | None = None
    ) -> dict[str, Any]:
        """One call; the decoded JSON object of a success, else a typed exception.

        A POST carries ``key`` as its Idempotency-Key (a fresh one when not given).
        """
        headers = {}
        if method == "POST":
            headers["Idempotency-Key"] = key or str(uuid.uuid4())
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                json=None if request is None else api.to_wire(request),
                headers=headers,
                timeout=self.timeout,
                verify=self.ca_file,
            )
        except requests.exceptions.Timeout as error:
            raise CardServiceTimeout(f"the card service did not answer in time ({error})") from None
        except requests.exceptions.SSLError as error:
            raise CardServiceUnreachable(f"TLS with the card service failed: {error}") from None
        except requests.exceptions.ConnectionError as error:
            if _timed_out(error):
                raise CardServiceTimeout("the card service did not answer in time") from None
            raise CardServiceUnreachable(f"cannot reach the card service: {error}") from None
        except requests.exceptions.RequestException as error:
            raise CardServiceUnreachable(f"card service request failed: {error}") from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            raise self._refusal(response.status_code, data)
        if not isinstance(data, dict):
            raise CardServiceProtocolError("the card service's answer is not a JSON object")
        return data

    @staticmethod
    def _refusal(status: int, data: object) -> Exception:
        """The typed error for an error answer: its problem code if it has a valid one."""
        try:
            problem = api.from_wire(api.Problem, data)
        except ValidationError as error:
            if status >= 500:
                return CardServiceFailure(status)
            if isinstance(data, dict) and "code" in data:
                return CardServiceProtocolError(
                    f"HTTP {status} with a malformed problem document: {api.describe(error)}"
                )
            return CardServiceProtocolError(f"HTTP {status} without a problem document")
        return problem_error(problem.code, status, problem.title, problem.detail)

    # -- the API -----------------------------------------------------------------------

    def health(self) -> HealthStatus:
        """``ok`` or ``maintenance``."""
        return _answer(api.Health, self._call("GET", "/v1/health")).status

    def start_login(self, card_number: str) -> LoginStart:
        """Start the Mobilt SITHS login for unlocking ``card_number``."""
        request = _request(api.StartLoginRequest, card_number=card_number)
        start = _answer(api.LoginStart, self._call("POST", "/v1/logins", request))
        return LoginStart(
            order_ref=start.order_ref,
            qr_start_token=start.qr_start_token,
            qr_start_secret=start.qr_start_secret,
            qr_prefix=start.qr_prefix,
            expires_at=start.expires_at,
            poll_interval=float(start.poll_interval_seconds),
        )

    def poll_login(self, order_ref: str) -> LoginStatus:
        """The login's status and hint code."""
        return self._status(self._call("GET", f"/v1/logins/{order_ref}"))

    def cancel_login(self, order_ref: str) -> LoginStatus:
        """Cancel a pending login."""
        return self._status(self._call("POST", f"/v1/logins/{order_ref}/cancel"))

    @staticmethod
    def _status(data: dict[str, Any]) -> LoginStatus:
        status = _answer(api.LoginStatus, data)
        completion = status.completion
        return LoginStatus(
            order_ref=status.order_ref,
            status=status.status,
            hint_code=status.hint_code,
            holder_name=completion.holder_name if completion else None,
            hsa_id=completion.hsa_id if completion else None,
        )

    def request_unlock(
        self,
        order_ref: str,
        card_number: str,
        pin_role: PinRole | str,
        key: UnlockKey,
        challenge: bytes | None = None,
    ) -> UnlockCredential:
        """Get the credential and open it with the one-time ``key``, which is spent either way.

        The envelope opens only if it was sealed for this kiosk, this login, this
        card, the unlock id in the answer and the answer's ``expiresAt`` text.
        """
        try:
            request = _request(
                api.UnlockRequest,
                order_ref=order_ref,
                card_number=card_number,
                pin_role=pin_role,
                kiosk_public_key=key.public_b64,
                challenge=challenge,
            )
            data = self._call("POST", "/v1/unlocks", request)
            unlock = _answer(api.Unlock, data)
            binding = EnvelopeBinding(
                kiosk_id=self.kiosk_id,
                order_ref=order_ref,
                card_number=card_number,
                unlock_id=unlock.unlock_id,
                expires_at=data["expiresAt"],  # exactly as sent, not as re-formatted here
            )
            try:
                secret = key.open(unlock.envelope.sealed(), binding)
            except EnvelopeError as error:
                raise CardServiceProtocolError(
                    f"the unlock credential is unusable: {error}"
                ) from None
        finally:
            key.discard()
        return UnlockCredential(unlock.unlock_id, unlock.mechanism, secret, unlock.expires_at)

    def report_outcome(
        self,
        unlock_id: str,
        result: Outcome,
        reason: Reason | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> None:
        """Tell the service what became of the card, and why (it e-mails the holder).

        ``idempotency_key``: the same on every try of one report (the kiosk's outcome
        queue keeps it with the report, across restarts).
        """
        request = _request(api.OutcomeRequest, result=result, reason=reason)
        path = f"/v1/unlocks/{unlock_id}/outcome"
        _answer(api.OutcomeRecorded, self._call("POST", path, request, idempotency_key))
