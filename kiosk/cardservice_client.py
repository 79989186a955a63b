"""The kiosk's client for the card service API (docs/cardservice-api.md), on ``requests``.

Mutual TLS with the device certificate, the service's CA pinned (no other CA
is trusted), connect and read timeouts on every call, and retries with
backoff only where repeating is safe: GETs, and POSTs that carry an
``Idempotency-Key`` (the service answers a repeat with the first answer).
Every failure becomes a typed :mod:`kiosk.cardservice_errors` exception.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
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
from protocol.credential import (
    ALGORITHM,
    EnvelopeBinding,
    EnvelopeError,
    UnlockKey,
    b64,
    unb64,
)


@dataclass(frozen=True)
class LoginStart:
    """A started login: what the kiosk needs to animate the QR and poll."""

    order_ref: str
    qr_start_token: str
    qr_start_secret: str
    qr_prefix: str
    expires_at: dt.datetime
    poll_interval: float


@dataclass(frozen=True)
class LoginStatus:
    """One poll's answer."""

    order_ref: str
    status: str
    hint_code: str | None
    holder_name: str | None = None
    hsa_id: str | None = None


@dataclass(frozen=True)
class UnlockCredential:
    """The opened credential: the PUK, or the cryptogram for the card's challenge."""

    unlock_id: str
    mechanism: str
    secret: bytes = field(repr=False)  # the PUK or cryptogram: never in logs or reprs
    expires_at: dt.datetime


def _time(value: object) -> dt.datetime:
    if not isinstance(value, str):
        raise CardServiceProtocolError("a time field is missing")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CardServiceProtocolError(f"{value!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise CardServiceProtocolError("times must carry a time zone")
    return parsed


def _field(data: dict[str, Any], name: str, kind: type = str) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise CardServiceProtocolError(f"the answer lacks {name!r}")
    return value


def _timed_out(error: requests.exceptions.ConnectionError) -> bool:
    """Whether retries ran out on timeouts (requests reports that as a ConnectionError)."""
    cause = error.args[0] if error.args else None
    reason = getattr(cause, "reason", None) if isinstance(cause, MaxRetryError) else None
    if isinstance(reason, NewConnectionError):  # a subclass of ConnectTimeoutError, oddly
        return False
    return isinstance(reason, TimeoutError | ReadTimeoutError | ConnectTimeoutError)


class CardServiceClient:
    """One kiosk's connection to the card service."""

    def __init__(
        self,
        base_url: str,
        *,
        kiosk_id: str,
        client_cert: tuple[Path, Path] | None,
        ca_file: Path,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
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

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {}
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                json=body,
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
            if isinstance(data, dict) and isinstance(data.get("code"), str):
                raise problem_error(
                    data["code"],
                    response.status_code,
                    str(data.get("title", "")),
                    data.get("detail") if isinstance(data.get("detail"), str) else None,
                )
            if response.status_code >= 500:
                raise CardServiceFailure(response.status_code)
            raise CardServiceProtocolError(
                f"HTTP {response.status_code} without a problem document"
            )
        if not isinstance(data, dict):
            raise CardServiceProtocolError("the card service's answer is not a JSON object")
        return data

    # -- the API -----------------------------------------------------------------------

    def health(self) -> str:
        """``"ok"`` or ``"maintenance"``."""
        return _field(self._call("GET", "/v1/health"), "status")

    def start_login(self, card_number: str) -> LoginStart:
        """Start the Mobilt SITHS login for unlocking ``card_number``."""
        data = self._call("POST", "/v1/logins", {"cardNumber": card_number})
        interval = data.get("pollIntervalSeconds", 2)
        if not isinstance(interval, int) or not 1 <= interval <= 30:
            raise CardServiceProtocolError("pollIntervalSeconds out of range")
        return LoginStart(
            order_ref=_field(data, "orderRef"),
            qr_start_token=_field(data, "qrStartToken"),
            qr_start_secret=_field(data, "qrStartSecret"),
            qr_prefix=_field(data, "qrPrefix"),
            expires_at=_time(data.get("expiresAt")),
            poll_interval=float(interval),
        )

    def poll_login(self, order_ref: str) -> LoginStatus:
        """The login's status and hint code."""
        data = self._call("GET", f"/v1/logins/{order_ref}")
        status = _field(data, "status")
        if status not in ("pending", "failed", "complete"):
            raise CardServiceProtocolError(f"unknown login status {status!r}")
        hint = data.get("hintCode")
        completion = data.get("completion") or {}
        if not isinstance(completion, dict):
            raise CardServiceProtocolError("completion must be an object")
        return LoginStatus(
            order_ref=_field(data, "orderRef"),
            status=status,
            hint_code=hint if isinstance(hint, str) else None,
            holder_name=completion.get("holderName"),
            hsa_id=completion.get("hsaId"),
        )

    def cancel_login(self, order_ref: str) -> LoginStatus:
        """Cancel a pending login."""
        data = self._call("POST", f"/v1/logins/{order_ref}/cancel")
        return LoginStatus(_field(data, "orderRef"), _field(data, "status"), data.get("hintCode"))

    def request_unlock(
        self,
        order_ref: str,
        card_number: str,
        pin_role: str,
        key: UnlockKey,
        challenge: bytes | None = None,
    ) -> UnlockCredential:
        """Get the credential and open it with the one-time ``key``, which is spent either way.

        The envelope opens only if it was sealed for this kiosk, this login, this
        card, the unlock id in the answer and the answer's ``expiresAt`` text.
        """
        body: dict[str, Any] = {
            "orderRef": order_ref,
            "cardNumber": card_number,
            "pinRole": pin_role,
            "kioskPublicKey": key.public_b64,
        }
        if challenge is not None:
            body["challenge"] = b64(challenge)
        try:
            data = self._call("POST", "/v1/unlocks", body)
            unlock_id = _field(data, "unlockId")
            mechanism = _field(data, "mechanism")
            if mechanism not in ("puk", "admin-key"):
                raise CardServiceProtocolError(f"unknown unlock mechanism {mechanism!r}")
            expires_text = _field(data, "expiresAt")
            envelope = _field(data, "envelope", dict)
            if envelope.get("alg") != ALGORITHM:
                raise CardServiceProtocolError("the envelope is not of the expected kind")
            try:
                sealed = unb64(envelope.get("enc"), "enc") + unb64(
                    envelope.get("ciphertext"), "ciphertext"
                )
            except ValueError as error:
                raise CardServiceProtocolError(f"the envelope is malformed: {error}") from None
            binding = EnvelopeBinding(
                self.kiosk_id, order_ref, card_number, unlock_id, expires_text
            )
            try:
                secret = key.open(sealed, binding)
            except EnvelopeError as error:
                raise CardServiceProtocolError(
                    f"the unlock credential is unusable: {error}"
                ) from None
        finally:
            key.discard()
        return UnlockCredential(unlock_id, mechanism, secret, _time(expires_text))

    def report_outcome(self, unlock_id: str, result: str, detail: str | None = None) -> None:
        """Tell the service how the unlock went (it e-mails the holder)."""
        body: dict[str, Any] = {"result": result}
        if detail:
            body["detail"] = detail[:500]
        data = self._call("POST", f"/v1/unlocks/{unlock_id}/outcome", body)
        if data.get("recorded") is not True:
            raise CardServiceProtocolError("the service did not confirm the outcome")
