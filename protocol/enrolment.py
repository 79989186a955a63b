"""Enrolment (docs/enrolment-api.md): the token, the bodies and the refusal codes, for both sides.

Why here: the fleet server (:mod:`fleet.enrolment`) writes tokens and answers with
these models, and the technician's tool (:mod:`provisioning`) reads tokens and
validates the answers with them, so the two cannot drift. Conventions follow
:mod:`protocol.cardservice_api`: camelCase on the wire, requests refuse unknown
members, answers ignore them, times are RFC 3339 UTC with ``Z``.

The token's ``fleetCaSha256`` pins the fleet's TLS CA for the first contact: the tool
fetches the CA from ``GET /v1/tls-ca`` without trusting it, checks its SHA-256, and
from then on trusts that CA alone, so nobody types or copies a certificate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from protocol.cardservice_api import UtcTime, describe

TOKEN_VERSION = 1
#: The kiosk id is its device certificate's common name (RFC 5280: at most 64 characters);
#: the kiosk's configuration, the fleet and the technician's tool all check it with these.
KIOSK_ID_MAX_LENGTH = 64
KIOSK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
#: The token file a technician puts on a USB stick (found by ``kiosk-provision enrol --usb``).
TOKEN_FILE_NAME = "enrol.json"
#: Random bytes in a token's secret (base64url without padding on the wire).
TOKEN_SECRET_BYTES = 32
#: The smallest card-hash key the fleet hands out (HMAC-SHA-256 wants 32 bytes or more).
CARD_HASH_KEY_MIN_BYTES = 32

ENROL_PATH = "/v1/enrol"
RENEW_PATH = "/v1/renew"
DECOMMISSION_PATH = "/v1/decommission"
CRL_PATH = "/v1/crl"
TLS_CA_PATH = "/v1/tls-ca"

KioskId = Annotated[
    str, Field(min_length=1, max_length=KIOSK_ID_MAX_LENGTH, pattern=KIOSK_ID_PATTERN)
]
OneLine = Annotated[str, Field(max_length=200, pattern=r"^[^\n\r]*$")]
Pem = Annotated[str, Field(min_length=1, max_length=64 * 1024)]


class EnrolProblem(StrEnum):
    """Every stable refusal code of the enrolment API."""

    TOKEN_USED = "token-used"
    TOKEN_EXPIRED = "token-expired"
    TOKEN_MISMATCH = "token-mismatch"
    CSR_INVALID = "csr-invalid"
    KIOSK_EXISTS = "kiosk-exists"
    CERTIFICATE_REVOKED = "certificate-revoked"
    CLIENT_CERTIFICATE_REQUIRED = "client-certificate-required"
    INVALID_REQUEST = "invalid-request"
    NOT_ENABLED = "enrolment-not-enabled"


@dataclass(frozen=True)
class ProblemKind:
    """A code's HTTP status, and what it tells the technician to do."""

    status: int
    title: str
    fix: str


PROBLEMS: MappingProxyType[EnrolProblem, ProblemKind] = MappingProxyType(
    {
        EnrolProblem.TOKEN_USED: ProblemKind(
            403,
            "The enrolment token is unknown, revoked or already used",
            "ask facility IT for a new token (each token enrols one kiosk once)",
        ),
        EnrolProblem.TOKEN_EXPIRED: ProblemKind(
            403,
            "The enrolment token has expired",
            "ask facility IT for a new token",
        ),
        EnrolProblem.TOKEN_MISMATCH: ProblemKind(
            403,
            "The enrolment token is for another site or another kiosk id",
            "use the token made for this kiosk and site, or ask facility IT for one",
        ),
        EnrolProblem.CSR_INVALID: ProblemKind(
            400,
            "The certificate request is not valid",
            "run the enrolment again (it makes a fresh request); if it repeats, the device"
            " key is damaged: run kiosk-provision decommission and enrol anew",
        ),
        EnrolProblem.KIOSK_EXISTS: ProblemKind(
            409,
            "A kiosk with this id is already enrolled",
            "choose another kiosk id, or have facility IT revoke the old kiosk first"
            " (kiosk-fleet kiosk revoke ID)",
        ),
        EnrolProblem.CERTIFICATE_REVOKED: ProblemKind(
            403,
            "This kiosk's certificate has been revoked",
            "the kiosk must be enrolled again with a new token from facility IT",
        ),
        EnrolProblem.CLIENT_CERTIFICATE_REQUIRED: ProblemKind(
            401,
            "The kiosk's device certificate is required",
            "enrol the kiosk first (kiosk-provision enrol)",
        ),
        EnrolProblem.INVALID_REQUEST: ProblemKind(
            400,
            "The request does not match the enrolment API",
            "update kiosk-provision to the fleet server's version",
        ),
        EnrolProblem.NOT_ENABLED: ProblemKind(
            503,
            "Enrolment is not set up on this fleet server",
            "facility IT: run kiosk-fleet ca init and start serve with the enrolment options",
        ),
    }
)


class _Body(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        frozen=True,
    )


class _Request(_Body):
    model_config = ConfigDict(extra="forbid")


class EnrolmentToken(_Request):
    """What facility IT hands the technician: QR code, USB stick file, or the text itself."""

    v: int = Field(TOKEN_VERSION, ge=TOKEN_VERSION, le=TOKEN_VERSION)
    fleet: Annotated[str, Field(pattern=r"^https://[^\s/]+$", max_length=300)]
    token: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{43}$", repr=False)]
    fleet_ca_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    site: OneLine
    kiosk_id: KioskId | None = Field(default=None, exclude_if=lambda v: v is None)
    expires: UtcTime


class EnrolRequest(_Request):
    """``POST /v1/enrol``: the token's secret, the kiosk id and a CSR (CN = kiosk id)."""

    token: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{43}$", repr=False)]
    kiosk_id: KioskId
    csr: Pem
    location: OneLine | None = Field(default=None, exclude_if=lambda v: v is None)
    #: The site the technician is setting the kiosk up for: a token for another is refused.
    site: OneLine | None = Field(default=None, exclude_if=lambda v: v is None)


class Endpoint(_Body):
    """A service the kiosk talks to, and the CA its server certificate comes from."""

    url: Annotated[str, Field(max_length=300)]
    ca_pem: Pem


class SiteConfig(_Body):
    """What the kiosk needs to work at its site; the tool writes kiosk.toml from it."""

    site: OneLine
    location: OneLine
    card_service: Endpoint
    broker: Endpoint
    #: The SITHS root and issuing CA certificates the kiosk trusts for cards (PEM, one or more).
    card_trust_pem: Pem
    card_hash_key: Annotated[str, Field(min_length=44, repr=False)]
    health_interval: Annotated[float, Field(ge=5, le=3600)]


class EnrolResponse(_Body):
    """``201`` to ``POST /v1/enrol``."""

    kiosk_id: KioskId
    certificate: Pem
    device_ca: Pem
    config: SiteConfig


class RenewRequest(_Request):
    """``POST /v1/renew`` (mutual TLS): a CSR whose CN is the current certificate's."""

    csr: Pem


class RenewResponse(_Body):
    """``201`` to ``POST /v1/renew``."""

    certificate: Pem
    device_ca: Pem


class DecommissionResponse(_Body):
    """``200`` to ``POST /v1/decommission``."""

    revoked: bool


class ProblemDocument(_Body):
    """An RFC 9457 refusal with its stable ``code``."""

    type: str = "about:blank"
    title: str
    status: int
    code: str
    detail: str | None = None


def problem(code: EnrolProblem, detail: str | None = None) -> ProblemDocument:
    """The refusal document for ``code``."""
    kind = PROBLEMS[code]
    return ProblemDocument(title=kind.title, status=kind.status, code=code, detail=detail)


class TokenError(ValueError):
    """The text is not an enrolment token (the message says what is wrong, never the secret)."""


def parse_token(text: str) -> EnrolmentToken:
    """The token in ``text`` (the JSON of the file or the QR code)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise TokenError("not an enrolment token (not JSON)") from None
    try:
        return EnrolmentToken.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as error:
        raise TokenError(f"not a valid enrolment token: {describe(error)}") from None


def encode_token(token: EnrolmentToken) -> str:
    """The token as compact JSON (what the QR code and the file hold)."""
    return json.dumps(token.model_dump(mode="json"), separators=(",", ":"))


def to_wire(body: BaseModel) -> dict[str, Any]:
    """The JSON-ready wire form of ``body``."""
    return body.model_dump(mode="json")


def ca_sha256(pem: str | bytes) -> str:
    """The hex SHA-256 of the first certificate's DER in ``pem`` (the token's pin)."""
    data = pem.encode() if isinstance(pem, str) else pem
    certificate = x509.load_pem_x509_certificate(data)
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def valid_kiosk_id(kiosk_id: str) -> bool:
    """Whether ``kiosk_id`` can be a kiosk id (a certificate's common name)."""
    return 0 < len(kiosk_id) <= KIOSK_ID_MAX_LENGTH and bool(re.match(KIOSK_ID_PATTERN, kiosk_id))


def expired(token: EnrolmentToken, now: dt.datetime) -> bool:
    """Whether the token's time is up (the fleet decides; the tool only warns)."""
    return token.expires <= now
