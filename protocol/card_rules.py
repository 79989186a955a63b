"""Facts about the secrets on SITHS and PIV cards that every part honours.

A PIN is 6 to 8 ASCII digits (PIV, SP 800-73-4; SITHS cards follow it); a PUK
from a SITHS PUK letter is 8 digits. The kiosk keeps :data:`PUK_SAFETY_MARGIN`
PUK tries in reserve, at the kiosk and on the command line alike: a SITHS card is
locked for good after 10 wrong PUKs, and the last tries belong to an ID
administrator, who can see the holder.
"""

from __future__ import annotations

PIN_MIN_LENGTH = 6
PIN_MAX_LENGTH = 8
PUK_LENGTH = 8

#: PUK tries never spent by the kiosk or ``kiosk card unblock`` (unless told otherwise).
PUK_SAFETY_MARGIN = 3
#: Administration-key tries never spent by the kiosk (the key, like the PUK, allows 10):
#: a card service that keeps sending a cryptogram the card refuses must not lock it for good.
ADMIN_KEY_SAFETY_MARGIN = 3


def is_pin_format(value: str) -> bool:
    """Whether ``value`` has the form of a PIN: 6 to 8 ASCII digits."""
    return value.isascii() and value.isdigit() and PIN_MIN_LENGTH <= len(value) <= PIN_MAX_LENGTH


def is_puk_format(value: str) -> bool:
    """Whether ``value`` has the form of a PUK from a PUK letter: 8 ASCII digits."""
    return value.isascii() and value.isdigit() and len(value) == PUK_LENGTH
