"""How an unblock's outcome is read from the card (hw.unblocking), on a scripted PIN (pure).

The same rules run on real cards in the pull-at-every-boundary tests; here each
rule is shown alone, including the cases no virtual card reaches.
"""

from __future__ import annotations

import pytest

from hw.errors import CardRemoved, ResetInterrupted
from hw.pins import NewPinNotVerified, PinBlocked, PinStatus, WrongPin, WrongPuk
from hw.unblocking import settle, unblock_pin
from protocol.reasons import Outcome

NAME, NEW = "PIN", "48291573"


class ScriptedPin:
    """One PIN: its value, its counter, and every VERIFY tried on it."""

    def __init__(self, value: str = "123456", tries: int = 0, maximum: int = 3) -> None:
        self.value, self.tries, self.maximum = value, tries, maximum
        self.verifies: list[str] = []

    def pin_state(self, pin_name: str) -> PinStatus:
        return PinStatus(pin_name, self.tries, self.tries == 0)

    def verify(self, pin_name: str, pin: str) -> None:
        self.verifies.append(pin)
        if self.tries == 0:
            raise PinBlocked()
        if pin != self.value:
            self.tries -= 1
            raise WrongPin(self.tries)
        self.tries = self.maximum

    def reset(self) -> None:
        self.value, self.tries = NEW, self.maximum


def test_refused_before_the_reset_is_raised_and_nothing_verified():
    card = ScriptedPin()

    def refuse() -> None:
        raise WrongPuk(9)

    with pytest.raises(WrongPuk):
        unblock_pin(card, NAME, NEW, refuse)
    assert card.verifies == []


def test_reset_answered_then_verified_is_unlocked():
    card = ScriptedPin()
    outcome = unblock_pin(card, NAME, NEW, card.reset)
    assert outcome.outcome is Outcome.UNLOCKED and outcome.before.blocked


@pytest.mark.parametrize("reset_happened", [True, False])
def test_interrupted_reset_is_read_back_on_the_same_connection(reset_happened):
    card = ScriptedPin()

    def interrupted() -> None:
        if reset_happened:
            card.reset()
        raise ResetInterrupted(PinBlocked())  # an answer no card should give to a reset

    outcome = unblock_pin(card, NAME, NEW, interrupted)
    assert outcome.outcome is (Outcome.UNLOCKED if reset_happened else Outcome.NOT_UNLOCKED)
    assert card.tries == (3 if reset_happened else 0)  # no try spent finding out


def test_card_gone_during_the_reset_waits_for_the_card():
    card = ScriptedPin()

    def pulled() -> None:
        raise ResetInterrupted(CardRemoved())

    outcome = unblock_pin(card, NAME, NEW, pulled)
    assert outcome.outcome is Outcome.UNKNOWN and outcome.card_must_come_back


def test_the_new_pin_refused_after_a_reset_is_not_called_unlocked():
    card = ScriptedPin()

    def odd_reset() -> None:
        card.value, card.tries = "999999", 3  # the card took some other value

    outcome = unblock_pin(card, NAME, NEW, odd_reset)
    assert outcome.outcome is Outcome.UNKNOWN
    assert isinstance(outcome.error, NewPinNotVerified)
    assert len(card.verifies) == 1  # one try, not two


def test_settling_a_pin_that_was_not_blocked_never_risks_its_last_try():
    card = ScriptedPin(tries=1)
    before = PinStatus(NAME, 1, False)
    outcome = settle(card, NAME, NEW, before)
    assert outcome.outcome is Outcome.UNKNOWN and card.verifies == []
    card.tries = 3
    assert settle(card, NAME, NEW, before).outcome is Outcome.NOT_UNLOCKED  # one try spent
    assert card.tries == 2
