"""The identity provider's relying-party API, as the card service calls it.

Why a contract of its own: the card service does not log anyone in itself; it asks an
identity provider (Mobilt SITHS in production, :mod:`sim.identity_provider` in the demo
and the tests) over mutual TLS, the way relying parties use the BankID and Mobilt
SITHS RP APIs: ``auth`` starts an authentication and returns the QR start token and
secret, ``collect`` is polled until the order is ``complete`` or ``failed``, ``cancel``
ends it. Both sides build and read these bodies with the same models, described in
docs/identity-provider.md. Names and values follow BankID's RP API (v6): camelCase,
``orderRef``, ``hintCode``, ``completionData.user.personalNumber``.
"""

from __future__ import annotations

from pydantic import Field

from protocol.cardservice_api import (
    PersonalIdentityNumber,
    RequestText,
    _Body,
    _optional,
    _Request,
)
from protocol.cardservice_values import HintCode, LoginStatusValue

#: The API's paths, below the provider's base URL.
AUTH_PATH = "/rp/v1/auth"
COLLECT_PATH = "/rp/v1/collect"
CANCEL_PATH = "/rp/v1/cancel"


class AuthRequest(_Request):
    """Start an authentication; the end user's IP is the kiosk's, as the RP saw it."""

    end_user_ip: RequestText
    user_visible_data: str | None = _optional(max_length=1500)


class AuthStarted(_Body):
    """A started order: the relying party shows the animated QR from the token and secret."""

    order_ref: str
    auto_start_token: str
    qr_start_token: str
    qr_start_secret: str = Field(repr=False)  # the QR's HMAC key: never in logs


class OrderRequest(_Request):
    """``collect`` and ``cancel`` name one order."""

    order_ref: RequestText


class CompletedUser(_Body):
    """Who authenticated: the personal identity number, the name, and for SITHS the HSA-id."""

    personal_number: PersonalIdentityNumber
    name: str
    hsa_id: str | None = _optional()


class CompletionData(_Body):
    """What a complete order proves."""

    user: CompletedUser


class Collected(_Body):
    """An order as it now stands."""

    order_ref: str
    status: LoginStatusValue
    hint_code: HintCode | None = _optional()
    completion_data: CompletionData | None = _optional()


class CancelAnswer(_Body):
    """``cancel`` answers an empty object."""


class RpError(_Body):
    """A refusal of the RP API: ``errorCode`` (``invalidParameters``, ``notFound`` ...)."""

    error_code: str
    details: str = ""
