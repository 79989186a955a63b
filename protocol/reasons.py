"""Why a session ended the way it did: one code, one spelling, words in Swedish and English.

Every part speaks of a failure with a :class:`Reason`: the kiosk's flow and
screen, the ``kiosk card`` commands, the session reports that telemetry will
carry, and the card service's e-mail. Card-service problem codes that the
holder can act on are reasons with the same spelling (``not-card-owner``). The
words live in ``protocol/words/<language>.json`` under ``reason.<code>`` (and
``outcome.<outcome>`` for the holder's e-mail); :func:`reason_text` reads them.
"""

from __future__ import annotations

import enum
import json
from functools import cache
from pathlib import Path

from protocol.cardservice_values import HintCode, Mechanism

LANGUAGES = ("sv", "en")
WORDS = Path(__file__).parent / "words"


class Reason(enum.StrEnum):
    """Why a card cannot be unlocked here, a session failed, or the kiosk is out of service."""

    # The holder and the clock.
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    SESSION_TIMEOUT = "session-timeout"
    # Reading the card.
    CARD_UNREADABLE = "card-unreadable"
    CARD_ERROR = "card-error"
    CARD_REMOVED = "card-removed"
    CARD_RESET = "card-reset"
    CARD_NOT_ANSWERING = "card-not-answering"
    OTHER_CARD = "other-card"
    UNSUPPORTED_CARD = "unsupported-card"
    NOT_SITHS = "not-siths"
    NOT_BLOCKED = "not-blocked"
    UNREADABLE_CERTIFICATE = "unreadable-certificate"
    INVALID_PIN_REFERENCE = "invalid-pin-reference"
    # What the certificates on the card say (hw.siths.trust.CardProblem).
    NO_CERTIFICATES = "no-certificates"
    UNTRUSTED_ISSUER = "untrusted-issuer"
    CARD_EXPIRED = "card-expired"
    NOT_YET_VALID = "not-yet-valid"
    NO_CARD_NUMBER = "no-card-number"
    NO_HSA_ID = "no-hsa-id"
    INCONSISTENT_CERTIFICATES = "inconsistent-certificates"
    # Unblocking on the card.
    PUK_MARGIN = "puk-margin"
    PUK_BLOCKED = "puk-blocked"
    WRONG_PUK = "wrong-puk"
    ADMIN_KEY_BLOCKED = "admin-key-blocked"
    ADMIN_KEY_MARGIN = "admin-key-margin"
    CRYPTOGRAM_REJECTED = "cryptogram-rejected"
    PIN_POLICY = "pin-policy"
    NEW_PIN_NOT_VERIFIED = "new-pin-not-verified"
    PARTLY_UNLOCKED = "partly-unlocked"
    PUK_FORMAT = "puk-format"
    # The Mobilt SITHS login.
    LOGIN_DECLINED = "login-declined"
    LOGIN_NOT_SCANNED = "login-not-scanned"
    LOGIN_EXPIRED = "login-expired"
    LOGIN_CANCELLED = "login-cancelled"
    LOGIN_FAILED = "login-failed"
    # The card service: its problem codes the holder can act on, and reaching it.
    CARD_NOT_REGISTERED = "card-not-registered"
    NOT_CARD_OWNER = "not-card-owner"
    NEEDS_ID_ADMINISTRATOR = "needs-id-administrator"
    TOO_MANY_ATTEMPTS = "too-many-attempts"
    MAINTENANCE = "maintenance"
    STORAGE_UNAVAILABLE = "storage-unavailable"
    KIOSK_NOT_ACCEPTED = "kiosk-not-accepted"
    CARD_SERVICE_UNREACHABLE = "card-service-unreachable"
    CARD_SERVICE_TIMEOUT = "card-service-timeout"
    CARD_SERVICE_ERROR = "card-service-error"
    # Why the kiosk is out of service.
    NO_READER = "no-reader"
    NOT_PROVISIONED = "not-provisioned"
    CARD_SERVICE_DOWN = "card-service-down"
    KIOSK_MAINTENANCE = "kiosk-maintenance"
    # What a technician sees at the command line.
    NO_CARD = "no-card"
    READER_PROBLEM = "reader-problem"
    PCSC_UNAVAILABLE = "pcsc-unavailable"
    UNEXPECTED_RESPONSE = "unexpected-response"
    COMMAND_REFUSED = "command-refused"
    WRONG_PIN = "wrong-pin"
    PIN_BLOCKED = "pin-blocked"
    # A bug: said plainly rather than hidden.
    INTERNAL = "internal"


class Outcome(enum.StrEnum):
    """What happened to the card in an unlock, as read from the card."""

    UNLOCKED = "unlocked"
    NOT_UNLOCKED = "not-unlocked"
    #: The card left while the unlock was under way: not known yet.
    UNKNOWN = "unknown"


class UnlockMechanism(enum.StrEnum):
    """How a card was unlocked, as reports name it: the card service's two, or the holder's."""

    PUK = Mechanism.PUK.value
    ADMIN_KEY = Mechanism.ADMIN_KEY.value
    #: The holder typed the PUK from their own PUK letter; no card service involved.
    PUK_LETTER = "puk-letter"


#: The BankID-style hint codes a failed login ends with, as reasons.
LOGIN_HINT_REASONS = {
    HintCode.USER_CANCEL: Reason.LOGIN_DECLINED,
    HintCode.START_FAILED: Reason.LOGIN_NOT_SCANNED,
    HintCode.EXPIRED_TRANSACTION: Reason.LOGIN_EXPIRED,
    HintCode.CANCELLED: Reason.LOGIN_CANCELLED,
}


def login_failure_reason(hint_code: str | None) -> Reason:
    """The reason for a login that ended ``failed`` with ``hint_code``."""
    try:
        return LOGIN_HINT_REASONS.get(HintCode(hint_code), Reason.LOGIN_FAILED)
    except ValueError:
        return Reason.LOGIN_FAILED


@cache
def words(language: str) -> dict[str, str]:
    """Every sentence of one language (``reason.*`` and ``outcome.*``)."""
    if language not in LANGUAGES:
        raise ValueError(f"no words in {language!r}; there are {', '.join(LANGUAGES)}")
    return json.loads((WORDS / f"{language}.json").read_text(encoding="utf-8"))


def reason_text(language: str, reason: Reason | str, *, tries: int | None = None) -> str:
    """What ``reason`` means for the holder and what to do next, in ``language``.

    An unknown code (a newer card service's) gets the general sentence rather
    than nothing; ``tries`` fills in the tries left where the sentence has them.
    """
    sentences = words(language)
    template = sentences.get(f"reason.{reason}", sentences["reason.unknown"])
    return template.replace("{tries}", "?" if tries is None else str(tries))


def outcome_text(language: str, outcome: str) -> str:
    """An unlock's outcome in a few words, for the holder's e-mail."""
    sentences = words(language)
    return sentences.get(f"outcome.{outcome}", sentences["outcome.unknown"])
