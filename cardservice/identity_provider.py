"""The identity provider, as the card service sees it: start, collect, cancel.

The card service never logs anyone in itself. It is a relying party of an identity
provider (Mobilt SITHS in production), reached over HTTPS with mutual TLS through the
relying-party API of :mod:`protocol.identity_provider_api`, modelled on the BankID and
Mobilt SITHS RP APIs. :class:`IdentityProvider` is the interface the service's
decisions use; :class:`RelyingPartyClient` is the one implementation, configured
with the provider's URL, its CA and the service's own client certificate.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import urllib3
from pydantic import BaseModel, ValidationError

from protocol import identity_provider_api as rp
from protocol.cardservice_api import describe, from_wire, to_wire
from protocol.cardservice_values import HintCode, LoginStatusValue

log = logging.getLogger(__name__)

Answer = TypeVar("Answer", bound=BaseModel)


class IdentityProviderError(Exception):
    """The identity provider could not be reached, or answered outside its API."""


@dataclass(frozen=True)
class Authentication:
    """A started authentication: the provider's order and what the kiosk draws in the QR."""

    order_ref: str
    qr_start_token: str
    qr_start_secret: str = field(repr=False)


@dataclass(frozen=True)
class Collection:
    """Where an order stands; ``person``, ``name`` and ``hsa_id`` once it is complete."""

    status: LoginStatusValue
    hint: HintCode | None = None
    person: str | None = None
    name: str | None = None
    hsa_id: str | None = None


class IdentityProvider(Protocol):
    """What the service needs of an identity provider."""

    def start(self, end_user_ip: str) -> Authentication:
        """Start an authentication."""
        ...

    def collect(self, order_ref: str) -> Collection:
        """Where the order stands now."""
        ...

    def cancel(self, order_ref: str) -> None:
        """End the order (nobody can complete it afterwards)."""
        ...


@dataclass(frozen=True)
class ProviderSettings:
    """How to reach the provider: its base URL, its CA, our client certificate and key."""

    url: str
    ca_file: Path
    client_cert: Path
    client_key: Path
    connect_timeout: float = 3.05
    read_timeout: float = 10.0


class RelyingPartyClient:
    """The RP API over HTTPS with mutual TLS (thread-safe: one urllib3 pool for all threads)."""

    def __init__(self, settings: ProviderSettings, *, pool_size: int = 16) -> None:
        self.base = settings.url.rstrip("/")
        self.pool = urllib3.PoolManager(
            num_pools=2,
            maxsize=pool_size,
            cert_reqs="CERT_REQUIRED",
            ca_certs=str(settings.ca_file),
            cert_file=str(settings.client_cert),
            key_file=str(settings.client_key),
            timeout=urllib3.Timeout(connect=settings.connect_timeout, read=settings.read_timeout),
            retries=False,
        )

    def close(self) -> None:
        """Close pooled connections."""
        self.pool.clear()

    def _post(self, path: str, request: BaseModel, answer: type[Answer]) -> Answer:
        try:
            response = self.pool.request(
                "POST",
                self.base + path,
                body=json.dumps(to_wire(request)).encode(),
                headers={"Content-Type": "application/json", "Accept": "application/json"},
            )
        except urllib3.exceptions.HTTPError as error:
            raise IdentityProviderError(
                f"the identity provider cannot be reached: {error}"
            ) from None
        try:
            data = json.loads(response.data or b"null")
        except ValueError:
            data = None
        if response.status != 200:
            code = data.get("errorCode") if isinstance(data, dict) else None
            raise IdentityProviderError(
                f"the identity provider refused {path} (HTTP {response.status}, {code})"
            )
        try:
            return from_wire(answer, data)
        except ValidationError as error:
            raise IdentityProviderError(
                f"the identity provider's answer to {path} is off its API: {describe(error)}"
            ) from None

    def start(self, end_user_ip: str) -> Authentication:
        """``auth``: a new order."""
        started = self._post(rp.AUTH_PATH, rp.AuthRequest(end_user_ip=end_user_ip), rp.AuthStarted)
        return Authentication(started.order_ref, started.qr_start_token, started.qr_start_secret)

    def collect(self, order_ref: str) -> Collection:
        """``collect``: the order's status, and who it was once complete."""
        found = self._post(rp.COLLECT_PATH, rp.OrderRequest(order_ref=order_ref), rp.Collected)
        if found.status == LoginStatusValue.COMPLETE:
            if found.completion_data is None:
                raise IdentityProviderError("a complete order came without completionData")
            user = found.completion_data.user
            return Collection(found.status, None, user.personal_number, user.name, user.hsa_id)
        return Collection(found.status, found.hint_code)

    def cancel(self, order_ref: str) -> None:
        """``cancel``: end the order."""
        self._post(rp.CANCEL_PATH, rp.OrderRequest(order_ref=order_ref), rp.CancelAnswer)
