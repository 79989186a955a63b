"""``kiosk card unblock`` with the card pulled at every APDU boundary, SITHS and PIV.

Real pcscd + vpcd; one virtual card per reader slot, reused: its state is reset
between boundaries. For every boundary the outcome the command reports (after
the card was put back when it asked for it) equals the card's real state, read
from the virtual card itself; at most one PUK try is spent; and a second
attempt unlocks a card the first did not.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hw.errors import CardError
from hw.pins import pad_reference
from kiosk import card_commands
from protocol.reasons import Outcome
from sim.vcard.piv_card import DEFAULT_PUK as PIV_PUK
from tests.conftest import VirtualCardSlot, piv_state
from tests.kiosk.boundaries import (
    Boundary,
    Checked,
    Tally,
    arm,
    boundaries,
    count_commands,
    on_both_slots,
    pin_truth,
    put_back,
)

pytestmark = pytest.mark.pcsc

OLD, NEW = "123456", "48291573"
SITHS_PUK = "12345678"


def unblock(slot, puk: str, margin: int, *, card_back=lambda: False) -> Outcome:
    """What ``card unblock`` reports; a refusal before the reset counts as not unlocked."""
    answers = iter([puk, NEW])
    try:
        result = card_commands.unblock(
            slot.reader,
            None,
            lambda _prompt: next(answers),
            safety_margin=margin,
            card_back=card_back,
        )
    except CardError:
        return Outcome.NOT_UNLOCKED
    return result.outcome


class Card:
    """How to block, read the truth of, and count PUK tries on one profile's virtual card."""

    def __init__(
        self,
        puk: str,
        margin: int,
        block: Callable[[VirtualCardSlot], None],
        truth: Callable[[VirtualCardSlot], Outcome | None],
        puk_tries: Callable[[VirtualCardSlot], int],
    ) -> None:
        self.puk, self.margin = puk, margin
        self.block, self.truth, self.puk_tries = block, truth, puk_tries

    def one_boundary(self, slot: VirtualCardSlot, boundary: Boundary) -> Checked:
        """Pull the card at ``boundary``; what went wrong, if anything."""
        self.block(slot)
        puk_before = self.puk_tries(slot)
        interruption = arm(slot, boundary)
        asked: list[bool] = []

        def card_back() -> bool:
            asked.append(True)
            put_back(slot)
            return True

        reported = unblock(slot, self.puk, self.margin, card_back=card_back)
        put_back(slot)
        real = self.truth(slot)
        problems = []
        if not interruption.fired:
            problems.append("the card was never pulled")
        if reported is not real:
            problems.append(f"reported {reported}, the card is {real}")
        if self.puk_tries(slot) < puk_before - 1:
            problems.append(f"{puk_before - self.puk_tries(slot)} PUK tries spent")
        if real is not Outcome.UNLOCKED:
            again = unblock(slot, self.puk, self.margin)
            if again is not Outcome.UNLOCKED or self.truth(slot) is not Outcome.UNLOCKED:
                problems.append(f"the second attempt said {again}; the card is {self.truth(slot)}")
        return problems, bool(asked)


def pull_at_every_boundary(slots, name: str, card: Card, capsys) -> None:
    card.block(slots[0])
    commands = count_commands(slots[0], lambda: unblock(slots[0], card.puk, card.margin))
    assert card.truth(slots[0]) is Outcome.UNLOCKED  # undisturbed, it works
    tally = Tally(f"{name} unblock ({commands} APDUs)")
    every = list(boundaries(commands))
    for boundary, (problems, asked_back) in on_both_slots(slots, every, card.one_boundary):
        tally.check(boundary, problems, put_back=asked_back)
    with capsys.disabled():
        print(f"\n{tally.line}")
    assert tally.wrong is None, "\n".join(tally.wrong or [])


def siths_block(slot: VirtualCardSlot) -> None:
    pin = slot.card.state.identification_pin
    pin.value, pin.tries_left = pad_reference(OLD), 0
    slot.card.state.puk.tries_left = slot.card.state.puk.max_tries


def siths_truth(slot: VirtualCardSlot) -> Outcome | None:
    pin = slot.card.state.identification_pin
    return pin_truth(pin.value, pin.blocked, OLD, NEW)


def piv_block(slot: VirtualCardSlot) -> None:
    state = slot.card.state
    state.pin, state.pin_tries_left, state.puk_tries_left = OLD, 0, state.puk_max_tries


def piv_truth(slot: VirtualCardSlot) -> Outcome | None:
    state = slot.card.state
    return pin_truth(pad_reference(state.pin), state.pin_blocked, OLD, NEW)


def test_siths_unblock_pulled_at_every_boundary(make_siths_slot, capsys):
    slots = [make_siths_slot(slot=n, identification_pin=OLD) for n in (0, 1)]
    card = Card(SITHS_PUK, 3, siths_block, siths_truth, lambda s: s.card.state.puk.tries_left)
    pull_at_every_boundary(slots, "SITHS", card, capsys)


def test_piv_unblock_pulled_at_every_boundary(make_piv_slot, capsys):
    slots = [make_piv_slot(piv_state(pin=OLD), slot=n) for n in (0, 1)]
    card = Card(PIV_PUK, 1, piv_block, piv_truth, lambda s: s.card.state.puk_tries_left)
    pull_at_every_boundary(slots, "PIV", card, capsys)
