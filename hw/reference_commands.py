"""ISO 7816-4 commands on reference data (PINs, PUKs), shared by every card profile.

Each function sends one command and maps the card's status words to the typed
outcomes of :mod:`hw.pins`, so PIV and SITHS sessions report alike.
"""

from __future__ import annotations

from hw.apdu import CommandApdu
from hw.apdu_processor import ApduProcessor
from hw.errors import CardError, ResetInterrupted
from hw.pins import (
    PinBlocked,
    PinPolicyViolation,
    PinStatus,
    PukBlocked,
    PukSafetyMargin,
    WrongPin,
    WrongPuk,
    puk_try_allowed,
)
from hw.status_words import (
    AuthenticationBlocked,
    IncorrectData,
    VerificationFailed,
    WrongLength,
    error_for,
)

INS_VERIFY = 0x20
INS_CHANGE_REFERENCE = 0x24
INS_RESET_RETRY_COUNTER = 0x2C


#: Answers to the empty VERIFY from cards that do not report a reference's state that way
#: (reference not found for VERIFY, wrong length, wrong data, wrong P1-P2, not supported).
_NOT_REPORTED = frozenset({0x6A88, 0x6700, 0x6A80, 0x6A86, 0x6B00, 0x6A81, 0x6D00})


def reference_status(processor: ApduProcessor, name: str, reference: int) -> PinStatus:
    """Tries left for a reference via the empty VERIFY, which spends no try.

    ``9000`` means the reference is verified in this session: not blocked, and
    its counter full, but the card does not say how many tries that is. A card
    that refuses the empty form (some do for the PUK) reports nothing: the
    state is returned as not reported rather than failing the whole read.
    """
    response = processor.transmit(CommandApdu(0x00, INS_VERIFY, 0x00, reference))
    if response.sw & 0xFFF0 == 0x63C0:
        tries = response.sw & 0x0F
        return PinStatus(name, tries, tries == 0)
    if response.sw == 0x6983:
        return PinStatus(name, 0, True)
    if response.sw == 0x9000:
        return PinStatus(name, None, False, verified=True)
    if response.sw in _NOT_REPORTED:
        return PinStatus(name, None, False, reported=False)
    raise error_for(response.sw)


def _send_checked(
    processor: ApduProcessor,
    command: CommandApdu,
    wrong: type[WrongPin] | type[WrongPuk],
    blocked: type[PinBlocked] | type[PukBlocked],
) -> None:
    """Send a command that checks reference data; name the failure as the caller's outcome.

    ``63C0`` (no tries left after this failure) and ``6983`` both mean blocked.
    """
    try:
        processor.send(command)
    except VerificationFailed as error:
        if error.tries_left == 0:
            raise blocked() from None
        raise wrong(error.tries_left) from None
    except AuthenticationBlocked:
        raise blocked() from None
    except (IncorrectData, WrongLength):
        raise PinPolicyViolation("the card refused the new PIN's format") from None


def verify(processor: ApduProcessor, reference: int, encoded: bytes) -> None:
    """VERIFY; raise :class:`WrongPin` or :class:`PinBlocked` on failure."""
    command = CommandApdu(0x00, INS_VERIFY, 0x00, reference, encoded, sensitive=True)
    _send_checked(processor, command, WrongPin, PinBlocked)


def change_reference(processor: ApduProcessor, reference: int, old: bytes, new: bytes) -> None:
    """CHANGE REFERENCE DATA with the current and the new value."""
    command = CommandApdu(0x00, INS_CHANGE_REFERENCE, 0x00, reference, old + new, sensitive=True)
    _send_checked(processor, command, WrongPin, PinBlocked)


def check_puk_margin(puk: PinStatus | None, margin: int) -> None:
    """Refuse (before anything is sent) when the PUK is blocked or inside the margin.

    A PUK verified in this session was just presented correctly, so its counter
    is full: the same PUK spends no try.
    """
    if puk is not None and puk.verified:
        return
    tries = None if puk is None else puk.tries_left
    if puk is not None and puk.blocked:
        raise PukBlocked()
    if not puk_try_allowed(tries, margin):
        raise PukSafetyMargin(tries, margin)


def reset_retry_counter(processor: ApduProcessor, p1: int, reference: int, data: bytes) -> None:
    """RESET RETRY COUNTER: the point of no return of an unblock.

    The card's refusals (:class:`WrongPuk`, :class:`PukBlocked`, a new PIN it
    does not accept) left the PIN as it was and are raised as such; anything
    else (the card pulled, no answer, a status word no card should give) is
    :class:`~hw.errors.ResetInterrupted`: the PIN may have been reset, and
    only the card can now tell.
    """
    command = CommandApdu(0x00, INS_RESET_RETRY_COUNTER, p1, reference, data, sensitive=True)
    try:
        _send_checked(processor, command, WrongPuk, PukBlocked)
    except (WrongPuk, PukBlocked, PinPolicyViolation):
        raise
    except CardError as error:
        raise ResetInterrupted(error) from None
