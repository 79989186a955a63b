"""The card service's problem codes (RFC 9457 ``code``), with their HTTP status and title.

Why here, once: the service answers with these codes and the kiosk turns them into
typed errors and words for the holder, so both read this one table; the OpenAPI
file and the prose table are checked against it by the tests. The kiosk acts on the
code only; status and title are for people and for HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

PROBLEM_BASE = "https://siths-kiosk.example/problems/"


class ProblemCode(StrEnum):
    """Every stable refusal code of the API."""

    CARD_NOT_REGISTERED = "card-not-registered"
    NOT_CARD_OWNER = "not-card-owner"
    NEEDS_ID_ADMINISTRATOR = "needs-id-administrator"
    TOO_MANY_ATTEMPTS = "too-many-attempts"
    LOGIN_EXPIRED = "login-expired"
    LOGIN_NOT_COMPLETE = "login-not-complete"
    CREDENTIAL_ALREADY_ISSUED = "credential-already-issued"
    CHALLENGE_REQUIRED = "challenge-required"
    MAINTENANCE = "maintenance"
    CLIENT_CERTIFICATE_REQUIRED = "client-certificate-required"
    UNKNOWN_KIOSK = "unknown-kiosk"
    UNKNOWN_LOGIN = "unknown-login"
    UNKNOWN_UNLOCK = "unknown-unlock"
    INVALID_REQUEST = "invalid-request"
    STORAGE_UNAVAILABLE = "storage-unavailable"
    KIOSK_REVOKED = "kiosk-revoked"
    OUTCOME_ALREADY_FINAL = "outcome-already-final"
    IDEMPOTENCY_KEY_REUSED = "idempotency-key-reused"
    IDENTITY_PROVIDER_UNAVAILABLE = "identity-provider-unavailable"
    REQUEST_TOO_LARGE = "request-too-large"
    NOT_FOUND = "not-found"
    METHOD_NOT_ALLOWED = "method-not-allowed"
    INTERNAL_ERROR = "internal-error"


@dataclass(frozen=True)
class ProblemKind:
    """What a code means on the wire: its HTTP status and its title."""

    status: int
    title: str


PROBLEMS: MappingProxyType[ProblemCode, ProblemKind] = MappingProxyType(
    {
        ProblemCode.CARD_NOT_REGISTERED: ProblemKind(
            404, "The card is not registered with the card service"
        ),
        ProblemCode.NOT_CARD_OWNER: ProblemKind(
            403, "The person who logged in does not own this card"
        ),
        ProblemCode.NEEDS_ID_ADMINISTRATOR: ProblemKind(
            409, "This card must be unlocked by an ID administrator"
        ),
        ProblemCode.TOO_MANY_ATTEMPTS: ProblemKind(429, "Too many unlock attempts"),
        ProblemCode.LOGIN_EXPIRED: ProblemKind(410, "The login has expired"),
        ProblemCode.LOGIN_NOT_COMPLETE: ProblemKind(409, "The login is not complete"),
        ProblemCode.CREDENTIAL_ALREADY_ISSUED: ProblemKind(
            409, "This login already gave out its credential"
        ),
        ProblemCode.CHALLENGE_REQUIRED: ProblemKind(
            400, "The card's challenge is required for this card"
        ),
        ProblemCode.MAINTENANCE: ProblemKind(503, "The card service is in maintenance"),
        ProblemCode.CLIENT_CERTIFICATE_REQUIRED: ProblemKind(
            401, "A kiosk device certificate is required"
        ),
        ProblemCode.UNKNOWN_KIOSK: ProblemKind(403, "The kiosk is not registered"),
        ProblemCode.UNKNOWN_LOGIN: ProblemKind(404, "No such login"),
        ProblemCode.UNKNOWN_UNLOCK: ProblemKind(404, "No such unlock"),
        ProblemCode.INVALID_REQUEST: ProblemKind(400, "The request does not match the API"),
        ProblemCode.STORAGE_UNAVAILABLE: ProblemKind(
            503, "The card service cannot store its records right now"
        ),
        ProblemCode.KIOSK_REVOKED: ProblemKind(403, "The kiosk has been revoked"),
        ProblemCode.OUTCOME_ALREADY_FINAL: ProblemKind(
            409, "This unlock already has a final outcome"
        ),
        ProblemCode.IDEMPOTENCY_KEY_REUSED: ProblemKind(
            422, "The Idempotency-Key was used for another request"
        ),
        ProblemCode.IDENTITY_PROVIDER_UNAVAILABLE: ProblemKind(
            503, "The identity provider cannot be reached right now"
        ),
        ProblemCode.REQUEST_TOO_LARGE: ProblemKind(413, "The request is too large"),
        ProblemCode.NOT_FOUND: ProblemKind(404, "No such operation"),
        ProblemCode.METHOD_NOT_ALLOWED: ProblemKind(405, "The operation does not take this method"),
        ProblemCode.INTERNAL_ERROR: ProblemKind(500, "The card service failed"),
    }
)


def problem_type(code: ProblemCode) -> str:
    """The problem document's ``type`` URI for ``code``."""
    return PROBLEM_BASE + code
