"""Words for a person, for every typed card-layer outcome.

One place maps exceptions to sentences, so the CLI (and later the kiosk UI's
translations) never show a raw status word or a Python traceback.
"""

from __future__ import annotations

from hw.errors import (
    CardError,
    CardRemoved,
    CardReset,
    NoCard,
    PcscUnavailable,
    ReaderUnavailable,
    UnexpectedResponse,
    UnsupportedCard,
)
from hw.pins import (
    AdminKeyBlocked,
    CryptogramRejected,
    PinBlocked,
    PinPolicyViolation,
    PukBlocked,
    PukSafetyMargin,
    WrongPin,
    WrongPuk,
)
from hw.siths.trust import CardProblem
from hw.status_words import ApduError
from kiosk.ui.i18n import text


def explain_problem(problem: CardProblem, language: str = "sv") -> str:
    """What a card problem means for the holder, in Swedish ("sv") or English ("en").

    The words are the kiosk screen's own (``reason.<code>`` in the translation files),
    so the command line and the touchscreen never say it differently.
    """
    return text(language, f"reason.{problem.value}")


def explain(error: CardError) -> str:
    """A sentence that says what happened and what to do next."""
    match error:
        case WrongPuk(tries_left=tries):
            return f"Wrong PUK. {tries} tries left before the card is locked for good."
        case PukBlocked():
            return "The PUK is blocked. The holder must visit an ID administrator."
        case CryptogramRejected():
            return "The card did not accept the unlock code from the card service. Try again."
        case AdminKeyBlocked():
            return (
                "This card can no longer be unlocked here."
                " The holder must visit an ID administrator."
            )
        case PukSafetyMargin():
            return f"Not trying: {error} Refer the holder to an ID administrator."
        case WrongPin(tries_left=tries):
            return f"Wrong PIN. {tries} tries left."
        case PinBlocked():
            return "The PIN is blocked. Unblock it with the PUK."
        case PinPolicyViolation():
            return f"Not accepted: {error}."
        case CardRemoved():
            return "The card was removed. Insert it again and start over; nothing was lost."
        case CardReset():
            return "Another program reset the card. Try again."
        case NoCard():
            return "No card in the reader. Insert the card (chip first, facing up)."
        case ReaderUnavailable():
            return f"Card reader problem: {error}."
        case PcscUnavailable():
            return (
                "The smart-card service (pcscd) is not running."
                " Start it: pcscd (or systemctl start pcscd)."
            )
        case UnsupportedCard():
            return f"This card cannot be handled here: {error}."
        case UnexpectedResponse():
            return (
                f"The card gave an answer that makes no sense ({error})."
                " Try another reader or card."
            )
        case ApduError():
            return f"The card refused the command ({error})."
        case _:
            return f"Card error: {error}."
