"""Unblocking a PIN so that what became of it is read from the card, never guessed.

The point of no return is RESET RETRY COUNTER reaching the reader. Whatever goes
wrong before it (a wrong PUK, the safety margin, the card pulled out) left the card
as it was, and is raised as the typed error. From then on the outcome comes from
the card: the new PIN is verified at once, in the same transaction; if anything
fails on the way, the PIN's state is read back on the same connection, or, when
the card has left, from the card when it comes back (:func:`settle`). The PIN's
state before the reset is read first, so that the card's answer afterwards can be
judged against it.

Three outcomes only (:class:`protocol.reasons.Outcome`): unlocked (reset, and the
new PIN verifies), not unlocked (the PIN is as it was), unknown (the card could not
be asked: it left, stopped answering, or pcscd went away).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from hw.errors import (
    CardError,
    CardNotAnswering,
    CardRemoved,
    CardReset,
    PcscUnavailable,
    ReaderUnavailable,
    ResetInterrupted,
)
from hw.pins import NewPinNotVerified, PinBlocked, PinStatus, WrongPin
from protocol.reasons import Outcome

#: Failures after which this connection cannot ask the card: it must come back first.
CARD_GONE = (CardRemoved, CardReset, CardNotAnswering, PcscUnavailable, ReaderUnavailable)


class PinReader(Protocol):
    """What settling an unblock needs from a card session."""

    def pin_state(self, pin_name: str) -> PinStatus:
        """The PIN's state by the empty VERIFY (spends no try)."""
        ...

    def verify(self, pin_name: str, pin: str) -> None:
        """Verify the PIN; :class:`WrongPin` / :class:`PinBlocked` on failure."""
        ...


@dataclass(frozen=True)
class PinOutcome:
    """What became of one PIN's unblock, as the card says."""

    pin: str
    outcome: Outcome
    #: The PIN's state before the reset (to settle an unknown outcome later).
    before: PinStatus
    #: Why it is not unlocked, or why its outcome is not known; ``None`` when unlocked.
    error: CardError | None = None

    @property
    def card_must_come_back(self) -> bool:
        """Whether only the card, once back in the reader, can settle this outcome."""
        return self.outcome is Outcome.UNKNOWN and isinstance(self.error, CARD_GONE)


def unblock_pin(
    session: PinReader, pin_name: str, new_pin: str, reset: Callable[[], None]
) -> PinOutcome:
    """Read the PIN's state, ``reset()`` it, verify the new PIN; the outcome from the card.

    Raises the typed error when the reset was refused or never sent (nothing
    changed on the card); otherwise returns what the card says. Run it inside a
    transaction that began with the application SELECT.
    """
    before = session.pin_state(pin_name)
    try:
        reset()
    except ResetInterrupted as interrupted:
        return _read_back(session, pin_name, new_pin, before, interrupted.cause)
    try:
        session.verify(pin_name, new_pin)
    except (WrongPin, PinBlocked):
        # The card took the reset but refuses the PIN it was given: a card to hand on.
        problem = NewPinNotVerified("the card accepted the reset, but the new PIN does not verify")
        return PinOutcome(pin_name, Outcome.UNKNOWN, before, problem)
    except CardError as error:
        return _read_back(session, pin_name, new_pin, before, error)
    return PinOutcome(pin_name, Outcome.UNLOCKED, before)


def _read_back(
    session: PinReader, pin_name: str, new_pin: str, before: PinStatus, cause: CardError
) -> PinOutcome:
    """After a failure past the point of no return: ask the card, if it still answers."""
    if isinstance(cause, CARD_GONE):
        return PinOutcome(pin_name, Outcome.UNKNOWN, before, cause)
    try:
        settled = settle(session, pin_name, new_pin, before)
    except CardError:
        return PinOutcome(pin_name, Outcome.UNKNOWN, before, cause)
    if settled.outcome is Outcome.UNLOCKED:
        return settled
    return replace(settled, error=settled.error or cause)


def settle(session: PinReader, pin_name: str, new_pin: str, before: PinStatus) -> PinOutcome:
    """What became of an unblock whose end was not seen, read from the card.

    The card must be the one that was being unblocked (the caller checks).
    Reset or not is told by the PIN's state and by the new PIN verifying; a
    check that could spend the PIN's last try (it was not blocked before, and
    one try is left or the card does not say) is not made: unknown.
    """
    now = session.pin_state(pin_name)
    if now.blocked:
        return PinOutcome(pin_name, Outcome.NOT_UNLOCKED, before)
    risky = not before.blocked and not now.verified and (now.tries_left or 0) <= 1
    if risky:
        return PinOutcome(
            pin_name,
            Outcome.UNKNOWN,
            before,
            NewPinNotVerified("checking the new PIN could spend the PIN's last try"),
        )
    try:
        session.verify(pin_name, new_pin)
    except PinBlocked:
        return PinOutcome(pin_name, Outcome.NOT_UNLOCKED, before)
    except WrongPin:
        if before.blocked:  # no longer blocked, so it was reset: yet not to the new PIN
            return PinOutcome(
                pin_name,
                Outcome.UNKNOWN,
                before,
                NewPinNotVerified("the PIN was reset, but the new PIN does not verify"),
            )
        return PinOutcome(pin_name, Outcome.NOT_UNLOCKED, before)
    return PinOutcome(pin_name, Outcome.UNLOCKED, before)
