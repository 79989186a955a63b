"""The card service API bodies (docs/cardservice-api.yaml) as pydantic models, for both sides.

Why one library: the reference service validates every request and builds every
answer with these models, the kiosk validates every answer with them, and
tests/protocol/test_openapi_spec.py checks them against the OpenAPI file (each model is the
schema of the same name), so the file, the service and the client cannot drift.

Conventions: camelCase on the wire (aliases), snake_case in Python. Requests refuse
unknown members; answers ignore them (a newer service may add some). Optional
members are left out, never sent as ``null``. Times are timezone-aware datetimes
written as RFC 3339 UTC with ``Z``; bytes and keys travel as base64. Read wire data
with :func:`from_wire` (wire names only), write it with :func:`to_wire`, and report
a :class:`~pydantic.ValidationError` with :func:`describe`, which names fields and
never repeats a value (values may be secrets or personal data).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from protocol.admin_key import CHALLENGE_LENGTH
from protocol.cardservice_values import (
    HealthStatus,
    HintCode,
    LoginStatusValue,
    Mechanism,
    PinRole,
)
from protocol.credential import (
    ALGORITHM,
    ENC_LENGTH,
    b64,
    p256_public_key,
    public_key_b64,
    public_key_from_b64,
    unb64,
)
from protocol.problems import ProblemCode
from protocol.reasons import Outcome
from protocol.times import format_utc, parse_rfc3339

_BASE64_SCHEMA = {"type": "string", "contentEncoding": "base64"}
#: The AES-GCM tag: the shortest ciphertext an envelope can carry.
_TAG_LENGTH = 16


def _time(value: object) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must carry a time zone")
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    return parse_rfc3339(value)


def _base64(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return unb64(value, "value")
    except ValueError:
        raise ValueError("must be base64 text") from None


def _public_key(value: object) -> ec.EllipticCurvePublicKey:
    if isinstance(value, ec.EllipticCurvePublicKey):
        return p256_public_key(value)
    return public_key_from_b64(value)


#: A timezone-aware time; RFC 3339 UTC with ``Z`` on the wire.
UtcTime = Annotated[
    dt.datetime,
    PlainValidator(_time),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
#: Bytes; standard base64 on the wire.
Base64Data = Annotated[
    bytes,
    PlainValidator(_base64),
    PlainSerializer(b64, return_type=str, when_used="json"),
    WithJsonSchema(_BASE64_SCHEMA),
]
#: A P-256 public key; base64 DER SubjectPublicKeyInfo on the wire.
P256PublicKey = Annotated[
    ec.EllipticCurvePublicKey,
    PlainValidator(_public_key),
    PlainSerializer(public_key_b64, return_type=str, when_used="json"),
    WithJsonSchema(_BASE64_SCHEMA),
]
CardNumber = Annotated[str, Field(pattern=r"^[0-9]{6,20}$")]
PersonalIdentityNumber = Annotated[str, Field(pattern=r"^[0-9]{12}$")]
#: A reference the service gave out, or text a phone read, as requests carry them.
RequestText = Annotated[str, Field(min_length=1, max_length=200)]


def _is_none(value: object) -> bool:
    return value is None


def _optional(**constraints: Any) -> Any:
    """An optional member: ``None`` in Python, absent on the wire."""
    return Field(default=None, exclude_if=_is_none, **constraints)


class _Body(BaseModel):
    """Every body: camelCase aliases, immutable once parsed."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        frozen=True,
    )


class _Request(_Body):
    """A request body: unknown members are refused, not ignored; optional ones are left out.

    The OpenAPI file allows no ``null`` for an optional member, so neither do the
    models: ``"challenge": null`` is refused rather than read as "no challenge".
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_null_members(cls, data: object) -> object:
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                wire = field.alias or name
                for key in {name, wire}:
                    if key in data and data[key] is None and not field.is_required():
                        raise ValueError(f"{wire} must be left out, not null")
        return data


# -- kiosk: logins ----------------------------------------------------------------------


class StartLoginRequest(_Request):
    """Start a login for the card in the reader."""

    card_number: CardNumber


class LoginStart(_Body):
    """A started login: what the kiosk needs to draw the animated QR code and poll."""

    order_ref: str
    qr_start_token: str
    qr_start_secret: str = Field(repr=False)  # the QR's HMAC key: never in logs
    qr_prefix: str
    expires_at: UtcTime
    poll_interval_seconds: int = Field(strict=True, ge=1, le=30)


class LoginCompletion(_Body):
    """Who logged in."""

    holder_name: str
    hsa_id: str


class LoginStatus(_Body):
    """A login as it now stands (poll and cancel answers)."""

    order_ref: str
    status: LoginStatusValue
    hint_code: HintCode | None
    expires_at: UtcTime
    completion: LoginCompletion | None


# -- kiosk: the credential and the outcome ----------------------------------------------


class UnlockRequest(_Request):
    """Ask for the unlock credential after a complete login."""

    order_ref: RequestText
    card_number: CardNumber
    pin_role: PinRole
    kiosk_public_key: P256PublicKey
    challenge: Base64Data | None = _optional()

    @field_validator("challenge")
    @classmethod
    def _challenge_length(cls, value: bytes | None) -> bytes | None:
        if value is not None and len(value) != CHALLENGE_LENGTH:
            raise ValueError(f"must be the card's {CHALLENGE_LENGTH}-byte challenge")
        return value


class Envelope(_Body):
    """The credential sealed with HPKE to the kiosk's one-time key (:mod:`protocol.credential`).

    ``enc || ciphertext`` is what HPKE's single-shot seal returns; they travel apart
    so that each can be checked for its shape before any decryption.
    """

    alg: Literal[ALGORITHM]  # type: ignore[valid-type]  # one spelling: protocol.credential
    enc: Base64Data
    ciphertext: Base64Data

    @field_validator("enc")
    @classmethod
    def _enc_length(cls, value: bytes) -> bytes:
        if len(value) != ENC_LENGTH:
            raise ValueError(f"must be {ENC_LENGTH} bytes (an uncompressed P-256 point)")
        return value

    @field_validator("ciphertext")
    @classmethod
    def _ciphertext_length(cls, value: bytes) -> bytes:
        if len(value) < _TAG_LENGTH:
            raise ValueError("is shorter than the AES-GCM tag")
        return value

    @classmethod
    def from_sealed(cls, sealed: bytes) -> Envelope:
        """The envelope for HPKE's ``enc || ciphertext``."""
        return cls(alg=ALGORITHM, enc=sealed[:ENC_LENGTH], ciphertext=sealed[ENC_LENGTH:])

    def sealed(self) -> bytes:
        """HPKE's ``enc || ciphertext``, as :meth:`protocol.credential.UnlockKey.open` takes it."""
        return self.enc + self.ciphertext


class Unlock(_Body):
    """The sealed credential for one unlock."""

    unlock_id: str
    mechanism: Mechanism
    expires_at: UtcTime
    envelope: Envelope


#: A reason code (``protocol.reasons.Reason``); a pattern, not the list, so a newer kiosk's
#: codes are still recorded by an older service.
ReasonCode = Annotated[str, Field(pattern=r"^[a-z]+(-[a-z]+)*$", max_length=64)]


class OutcomeRequest(_Request):
    """What became of the card (every attempt is reported, whatever its outcome)."""

    result: Outcome
    reason: ReasonCode | None = _optional()
    detail: str | None = _optional(max_length=500)


class OutcomeRecorded(_Body):
    """The service recorded the outcome (and will e-mail the holder)."""

    unlock_id: str
    recorded: Literal[True]

    @field_validator("recorded", mode="before")
    @classmethod
    def _exactly_true(cls, value: object) -> object:
        if value is not True:  # not 1 nor "true": the kiosk must see a real confirmation
            raise ValueError("must be true")
        return value


class Health(_Body):
    """Whether kiosks may start new work."""

    status: HealthStatus


# -- refusals ----------------------------------------------------------------------------


class Problem(_Body):
    """RFC 9457 problem details; the kiosk acts on ``code``, never on ``title`` or ``detail``."""

    type: str
    title: str
    status: int = Field(strict=True, ge=400, le=599)
    detail: str | None = _optional()
    instance: str | None = _optional()
    code: ProblemCode


# -- reading and writing ------------------------------------------------------------------

Model = TypeVar("Model", bound=BaseModel)


def from_wire(model: type[Model], data: object) -> Model:
    """Validate decoded JSON against ``model``, accepting wire (camelCase) names only."""
    return model.model_validate(data, by_alias=True, by_name=False)


def to_wire(body: BaseModel) -> dict[str, Any]:
    """The JSON-ready wire form of ``body``."""
    return body.model_dump(by_alias=True, mode="json")


def describe(error: ValidationError) -> str:
    """Which members are wrong and how, e.g. ``cardNumber: String should match pattern ...``.

    Never the offending value: a guard drops any message that would quote its input.
    """
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part)[:64] for part in item["loc"]) or "the body"
        message = item["msg"].removeprefix("Value error, ")
        value = item.get("input")
        if isinstance(value, str) and len(value) >= 4 and value in message:
            message = item["type"].replace("_", " ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
