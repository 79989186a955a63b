"""Which :class:`~protocol.reasons.Reason` a failure is: exceptions mapped to codes, once.

The flow, the screen, the session reports and the ``kiosk card`` commands all
take their code from here and their words from :mod:`protocol.reasons`, so no
failure is named twice or worded twice.
"""

from __future__ import annotations

from hw.errors import (
    CardError,
    CardNotAnswering,
    CardRemoved,
    CardReset,
    DifferentCard,
    InvalidPinReference,
    NoCard,
    PcscUnavailable,
    ReaderUnavailable,
    ResetInterrupted,
    UnexpectedResponse,
    UnreadableCertificate,
    UnsupportedCard,
)
from hw.pins import (
    AdminKeyBlocked,
    AdminKeySafetyMargin,
    CryptogramRejected,
    NewPinNotVerified,
    PinBlocked,
    PinPolicyViolation,
    PukBlocked,
    PukFormatViolation,
    PukSafetyMargin,
    WrongPin,
    WrongPuk,
)
from hw.status_words import ApduError
from kiosk.cardservice_errors import (
    CardServiceError,
    CardServiceProblem,
    CardServiceTimeout,
    CardServiceUnreachable,
    KioskNotAccepted,
)
from protocol.reasons import Reason

#: Card failures after which nothing changed on the card (refused before the reset).
NOTHING_CHANGED = frozenset(
    {
        Reason.WRONG_PUK,
        Reason.PUK_BLOCKED,
        Reason.PUK_MARGIN,
        Reason.CRYPTOGRAM_REJECTED,
        Reason.ADMIN_KEY_BLOCKED,
        Reason.ADMIN_KEY_MARGIN,
        Reason.PIN_POLICY,
        Reason.PUK_FORMAT,
        Reason.UNSUPPORTED_CARD,
    }
)


def card_reason(error: CardError) -> Reason:
    """The reason for a card-layer failure."""
    match error:
        case ResetInterrupted(cause=cause):
            return card_reason(cause)
        case WrongPuk():
            return Reason.WRONG_PUK
        case PukBlocked():
            return Reason.PUK_BLOCKED
        case PukSafetyMargin():
            return Reason.PUK_MARGIN
        case CryptogramRejected():
            return Reason.CRYPTOGRAM_REJECTED
        case AdminKeyBlocked():
            return Reason.ADMIN_KEY_BLOCKED
        case AdminKeySafetyMargin():
            return Reason.ADMIN_KEY_MARGIN
        case NewPinNotVerified():
            return Reason.NEW_PIN_NOT_VERIFIED
        case PukFormatViolation():
            return Reason.PUK_FORMAT
        case PinPolicyViolation():
            return Reason.PIN_POLICY
        case WrongPin():
            return Reason.WRONG_PIN
        case PinBlocked():
            return Reason.PIN_BLOCKED
        case CardRemoved():
            return Reason.CARD_REMOVED
        case NoCard():
            return Reason.NO_CARD
        case CardReset():
            return Reason.CARD_RESET
        case CardNotAnswering():
            return Reason.CARD_NOT_ANSWERING
        case DifferentCard():
            return Reason.OTHER_CARD
        case UnsupportedCard():
            return Reason.UNSUPPORTED_CARD
        case PcscUnavailable():
            return Reason.PCSC_UNAVAILABLE
        case ReaderUnavailable():
            return Reason.READER_PROBLEM
        case UnreadableCertificate():
            return Reason.UNREADABLE_CERTIFICATE
        case InvalidPinReference():
            return Reason.INVALID_PIN_REFERENCE
        case UnexpectedResponse():
            return Reason.UNEXPECTED_RESPONSE
        case ApduError():
            return Reason.COMMAND_REFUSED
    return Reason.CARD_ERROR


def tries_left(error: CardError) -> int | None:
    """PUK (or PIN) tries left that the card reported with the failure, if any."""
    return getattr(error, "tries_left", None) if isinstance(error, WrongPuk | WrongPin) else None


def service_reason(error: CardServiceError) -> Reason:
    """The reason for a card-service failure: its problem code when the holder can act on it."""
    if isinstance(error, KioskNotAccepted):
        return Reason.KIOSK_NOT_ACCEPTED
    if isinstance(error, CardServiceProblem):
        try:
            return Reason(error.code)
        except ValueError:
            return Reason.CARD_SERVICE_ERROR
    if isinstance(error, CardServiceTimeout):
        return Reason.CARD_SERVICE_TIMEOUT
    if isinstance(error, CardServiceUnreachable):
        return Reason.CARD_SERVICE_UNREACHABLE
    return Reason.CARD_SERVICE_ERROR
