"""PIN state, PIN/PUK outcomes and the rules that decide them (pure code).

The card profiles report through these types so the kiosk flow and the CLI
handle a PIV card and a SITHS card alike. Nothing here talks to a card; the
rules (format checks, the PUK safety margin) are plain functions so they are
tested without hardware. Exception messages never contain PIN or PUK values.
"""

from __future__ import annotations

from dataclasses import dataclass

from hw.errors import CardError
from protocol.card_rules import PIN_MAX_LENGTH as PIV_PIN_MAX
from protocol.card_rules import PIN_MIN_LENGTH as PIV_PIN_MIN

PIV_REFERENCE_LENGTH = 8
PAD = 0xFF


@dataclass(frozen=True)
class PinStatus:
    """The state of one PIN (or PUK) on a card.

    ``tries_left`` is ``None`` when the card does not say: the reference is
    verified in this session (``verified``: the empty VERIFY answers 9000, not
    ``63CX``), or the card does not report its state at all (``reported`` is
    false: it refuses the empty VERIFY, as some cards do for the PUK).
    """

    name: str
    tries_left: int | None
    blocked: bool
    #: "identification", "signature" or "puk" where the card says; else ``None``.
    role: str | None = None
    #: Verified in this session: a correct value was presented, so its counter is full.
    verified: bool = False
    #: Whether the card told anything about this reference's state.
    reported: bool = True

    def to_json(self) -> dict[str, object]:
        """The shape used by ``kiosk card status --json``."""
        data: dict[str, object] = {
            "name": self.name,
            "tries_left": self.tries_left,
            "blocked": self.blocked,
        }
        if self.role:
            data["role"] = self.role
        if self.verified:
            data["verified"] = True
        if not self.reported:
            data["reported"] = False
        return data


class WrongPin(CardError):
    """The PIN was wrong; the card allows ``tries_left`` more tries."""

    def __init__(self, tries_left: int) -> None:
        super().__init__(f"wrong PIN, {tries_left} tries left")
        self.tries_left = tries_left


class PinBlocked(CardError):
    """The PIN is blocked; it must be unblocked with the PUK or by an administrator."""

    def __init__(self) -> None:
        super().__init__("the PIN is blocked")


class WrongPuk(CardError):
    """The PUK was wrong; the card allows ``tries_left`` more tries."""

    def __init__(self, tries_left: int) -> None:
        super().__init__(f"wrong PUK, {tries_left} tries left")
        self.tries_left = tries_left


class PukBlocked(CardError):
    """The PUK is blocked: only an ID administrator (or a new card) helps now."""

    def __init__(self) -> None:
        super().__init__("the PUK is blocked; the card must be handled by an ID administrator")


class PinPolicyViolation(CardError):
    """A new PIN (or the PUK given) does not have the required form."""


class PukFormatViolation(PinPolicyViolation):
    """The PUK given does not have the form of a PUK (nothing was sent to the card)."""


class CryptogramRejected(CardError):
    """The card did not accept the unlock cryptogram from the card service."""

    def __init__(self, tries_left: int | None = None) -> None:
        text = "the card did not accept the unlock code from the card service"
        if tries_left is not None:
            text += f" ({tries_left} tries left on the administration key)"
        super().__init__(text)
        self.tries_left = tries_left


class AdminKeyBlocked(CardError):
    """The card's administration key is blocked; only an ID administrator can help."""

    def __init__(self) -> None:
        super().__init__("the card's administration key is blocked")


class NewPinNotVerified(CardError):
    """The PIN was (or may have been) reset, but the new PIN could not be shown to verify."""


class AdminKeySafetyMargin(CardError):
    """Refused to spend an administration-key try: too few would remain."""

    def __init__(self, tries_left: int, margin: int) -> None:
        super().__init__(
            f"only {tries_left} tries remain on the card's administration key and the kiosk"
            f" keeps {margin} in reserve; an ID administrator must unblock this card"
        )
        self.tries_left = tries_left
        self.margin = margin


class PukSafetyMargin(CardError):
    """Refused to spend a PUK try: too few would remain (or the count is unknown)."""

    def __init__(self, tries_left: int | None, margin: int) -> None:
        if tries_left is None:
            text = "the card does not tell how many PUK tries remain; not risking one"
        else:
            text = (
                f"only {tries_left} PUK tries remain and the kiosk keeps {margin} in reserve;"
                " an ID administrator must unblock this card"
            )
        super().__init__(text)
        self.tries_left = tries_left
        self.margin = margin


def check_piv_pin(pin: str, *, what: str = "PIN") -> None:
    """Raise :class:`PinPolicyViolation` unless ``pin`` is 6 to 8 ASCII digits."""
    if not (pin.isascii() and pin.isdigit()):
        raise PinPolicyViolation(f"the {what} must be digits only")
    if not PIV_PIN_MIN <= len(pin) <= PIV_PIN_MAX:
        raise PinPolicyViolation(f"the {what} must be {PIV_PIN_MIN} to {PIV_PIN_MAX} digits long")


def check_piv_puk(puk: str) -> None:
    """Raise :class:`PinPolicyViolation` unless ``puk`` is 1 to 8 printable ASCII characters.

    PIV lets the PUK be any 8 bytes; issued PUK letters hold 8 digits, and some
    cards (YubiKeys) accept 6 to 8 characters padded like a PIN.
    """
    if not puk or not puk.isascii() or not puk.isprintable() or len(puk) > PIV_REFERENCE_LENGTH:
        raise PukFormatViolation(f"the PUK must be 1 to {PIV_REFERENCE_LENGTH} characters")


def pad_reference(value: str) -> bytes:
    """Encode a PIN or PUK as PIV wants it: ASCII, padded with ``FF`` to 8 bytes."""
    raw = value.encode("ascii")
    if len(raw) > PIV_REFERENCE_LENGTH:
        raise PinPolicyViolation("a PIN or PUK has at most 8 characters")
    return raw + bytes([PAD]) * (PIV_REFERENCE_LENGTH - len(raw))


def puk_try_allowed(tries_left: int | None, margin: int) -> bool:
    """Whether one PUK try may be spent, keeping ``margin`` tries in reserve.

    A try is allowed only while more than ``margin`` tries remain, so the kiosk
    never spends the last ``margin`` tries; with an unknown count it is allowed
    only when no margin is asked for (``margin == 0``).
    """
    if margin < 0:
        raise ValueError("the safety margin cannot be negative")
    if tries_left is None:
        return margin == 0
    return tries_left > margin
