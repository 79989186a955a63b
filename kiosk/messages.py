"""Words for a person for every typed card-layer failure, from the shared reason words.

The command line and the touchscreen say the same thing: the sentence for the
failure's :class:`~protocol.reasons.Reason` (:mod:`kiosk.reasons` picks it), in
Swedish or English, never a raw status word or a traceback. Where the card
layer knows a detail that helps a technician (which rule a PIN broke, what the
card answered), it follows the sentence.
"""

from __future__ import annotations

from hw.errors import CardError
from hw.siths.trust import CardProblem
from kiosk.reasons import card_reason, tries_left
from protocol.reasons import Reason, reason_text

#: Failures whose exception text tells a technician something the sentence does not.
_WITH_DETAIL = frozenset(
    {
        Reason.UNSUPPORTED_CARD,
        Reason.READER_PROBLEM,
        Reason.UNEXPECTED_RESPONSE,
        Reason.UNREADABLE_CERTIFICATE,
        Reason.INVALID_PIN_REFERENCE,
        Reason.NEW_PIN_NOT_VERIFIED,
        Reason.COMMAND_REFUSED,
        Reason.PIN_POLICY,
        Reason.PUK_MARGIN,
        Reason.ADMIN_KEY_MARGIN,
        Reason.CARD_ERROR,
    }
)


def explain_problem(problem: CardProblem, language: str = "sv") -> str:
    """What a card problem means for the holder, in Swedish ("sv") or English ("en")."""
    return reason_text(language, problem.value)


def explain(error: CardError, language: str = "en") -> str:
    """A sentence that says what happened and what to do next."""
    reason = card_reason(error)
    sentence = reason_text(language, reason, tries=tries_left(error))
    detail = str(error).strip().rstrip(".")
    if reason in _WITH_DETAIL and detail:
        return f"{sentence} Details: {detail}."
    return sentence
