"""Which new PINs the kiosk accepts (pure): the holder's protection against guessable PINs.

6 to 8 digits, typed twice the same; not one digit repeated (111111), not a
straight run up or down (123456, 876543), not the holder's birth date as it
stands in the personal identity number (in the usual orders), and when two
PINs are chosen in one visit, not the same for both.
"""

from __future__ import annotations

import enum
import itertools

from protocol.card_rules import PIN_MAX_LENGTH as MAX_LENGTH
from protocol.card_rules import PIN_MIN_LENGTH as MIN_LENGTH


class PinRejection(enum.Enum):
    """Why a new PIN was refused; the UI has words for each."""

    NOT_DIGITS = "not_digits"
    LENGTH = "length"
    MISMATCH = "mismatch"
    REPEATED_DIGIT = "repeated_digit"
    STRAIGHT_RUN = "straight_run"
    BIRTH_DATE = "birth_date"
    SAME_AS_OTHER_PIN = "same_as_other_pin"


def birth_date_forms(personal_identity_number: str | None) -> set[str]:
    """Ways a birth date from ``YYYYMMDDNNNC`` (or ``YYMMDD-NNNC``) might be typed."""
    if not personal_identity_number:
        return set()
    digits = "".join(c for c in personal_identity_number if c.isdigit())
    if len(digits) == 12:
        century, yy, mm, dd = digits[:2], digits[2:4], digits[4:6], digits[6:8]
    elif len(digits) == 10:
        century, yy, mm, dd = "", digits[:2], digits[2:4], digits[4:6]
    else:
        return set()
    day = int(dd)
    if day > 60:  # samordningsnummer: day + 60
        dd = f"{day - 60:02d}"
    forms = {yy + mm + dd, dd + mm + yy, mm + dd + yy}
    if century:
        yyyy = century + yy
        forms |= {yyyy + mm + dd, dd + mm + yyyy}
    return forms


def _straight_run(pin: str) -> bool:
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    return steps in ({1}, {-1})


def check_new_pin(
    pin: str,
    confirmation: str,
    *,
    personal_identity_number: str | None = None,
    other_new_pin: str | None = None,
) -> PinRejection | None:
    """``None`` if the PIN is acceptable, else the first reason it is not."""
    if not (pin.isascii() and pin.isdigit()):
        return PinRejection.NOT_DIGITS
    if not MIN_LENGTH <= len(pin) <= MAX_LENGTH:
        return PinRejection.LENGTH
    if pin != confirmation:
        return PinRejection.MISMATCH
    if len(set(pin)) == 1:
        return PinRejection.REPEATED_DIGIT
    if _straight_run(pin):
        return PinRejection.STRAIGHT_RUN
    if any(form in pin for form in birth_date_forms(personal_identity_number)):
        return PinRejection.BIRTH_DATE
    if other_new_pin is not None and pin == other_new_pin:
        return PinRejection.SAME_AS_OTHER_PIN
    return None
