"""One outcome for an unlock of one or two PINs, from what the card said of each (pure).

The flow's event and what the card service is told per credential must agree, and
an outcome the card has not told is never claimed.
"""

from __future__ import annotations

import pytest

from hw.errors import CardRemoved
from hw.pins import PinStatus, WrongPuk
from hw.unblocking import PinOutcome
from kiosk.flow import events as ev
from kiosk.flow.model import Unsettled, UnsettledPin
from kiosk.unlock_progress import UnlockProgress, combine, settled
from protocol.reasons import Outcome, Reason

IDENT, SIGN = "Identification PIN", "Signature PIN"
PINS = ((IDENT, "48291573"), (SIGN, "59302684"))
BLOCKED = PinStatus(IDENT, 0, True)


class Told:
    """A card service that remembers the outcomes it was told."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[str, Outcome, Reason | None]] = []

    def report_outcome(self, unlock_id: str, result: Outcome, reason: Reason | None = None):
        self.outcomes.append((unlock_id, result, reason))


def pin(name: str, outcome: Outcome, error=None) -> PinOutcome:
    return PinOutcome(name, outcome, PinStatus(name, 0, True), error)


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([Outcome.UNLOCKED, Outcome.UNLOCKED], (Outcome.UNLOCKED, None)),
        ([Outcome.UNLOCKED, Outcome.NOT_UNLOCKED], (Outcome.UNLOCKED, Reason.PARTLY_UNLOCKED)),
        ([Outcome.UNLOCKED, Outcome.UNKNOWN], (Outcome.UNKNOWN, Reason.CARD_REMOVED)),
        ([Outcome.NOT_UNLOCKED], (Outcome.NOT_UNLOCKED, Reason.CARD_REMOVED)),
    ],
)
def test_one_outcome_for_several_pins(outcomes, expected):
    assert combine(outcomes, Reason.CARD_REMOVED) == expected


def test_pulled_at_the_second_pin_leaves_it_unsettled_and_the_first_counted():
    told = Told()
    progress = UnlockProgress(7, PINS, told, "puk")
    progress.credential("u1", IDENT)
    progress.record(pin(IDENT, Outcome.UNLOCKED))
    progress.credential("u1", SIGN)
    progress.record(pin(SIGN, Outcome.UNKNOWN, CardRemoved()))
    event = progress.finish()
    assert isinstance(event, ev.UnlockFailed)
    assert (event.reason, event.outcome) == (Reason.CARD_REMOVED, Outcome.UNKNOWN)
    assert told.outcomes == [("u1", Outcome.UNKNOWN, Reason.CARD_REMOVED)]
    pending = event.pending
    assert [p.name for p in pending.pins] == [SIGN] and pending.unlocked == (IDENT,)
    assert pending.credentials == (("u1", (IDENT, SIGN)),)
    assert "59302684" not in repr(event)


def test_pulled_at_the_first_pin_leaves_the_second_untried():
    progress = UnlockProgress(7, PINS, Told(), "puk")
    progress.record(pin(IDENT, Outcome.UNKNOWN, CardRemoved()))
    pending = progress.finish().pending
    assert pending.untried == (SIGN,)
    # Settled unlocked on the card put back: one PIN of two, not the whole card.
    outcome, reason, _told = settled(pending, [pin(IDENT, Outcome.UNLOCKED)])
    assert (outcome, reason) == (Outcome.UNLOCKED, Reason.PARTLY_UNLOCKED)


def test_a_wrong_puk_is_not_unlocked_with_the_tries_left():
    told = Told()
    progress = UnlockProgress(7, PINS[:1], told, "puk")
    progress.credential("u1", IDENT)
    progress.stopped = WrongPuk(8)
    event = progress.finish()
    assert (event.reason, event.tries_left, event.outcome) == ("wrong-puk", 8, "not-unlocked")
    assert told.outcomes == [("u1", Outcome.NOT_UNLOCKED, Reason.WRONG_PUK)]


def test_a_bug_part_way_claims_nothing_it_did_not_see():
    progress = UnlockProgress(7, PINS[:1], Told(), "puk")
    progress.refused, progress.crashed = Reason.INTERNAL, True
    event = progress.finish()
    assert (event.reason, event.outcome) == (Reason.INTERNAL, Outcome.UNKNOWN)


def test_settled_tells_each_credential_its_own_pins_outcome():
    pending = Unsettled(
        Reason.CARD_REMOVED,
        "admin-key",
        (UnsettledPin(SIGN, "59302684", True, 0),),
        unlocked=(IDENT,),
        credentials=(("u2", (SIGN,)),),
    )
    outcome, reason, told = settled(pending, [pin(SIGN, Outcome.NOT_UNLOCKED)])
    assert (outcome, reason) == (Outcome.UNLOCKED, Reason.PARTLY_UNLOCKED)
    assert told == [("u2", Outcome.NOT_UNLOCKED, Reason.CARD_REMOVED)]
    still, why, nothing = settled(pending, [pin(SIGN, Outcome.UNKNOWN, CardRemoved())])
    assert (still, why, nothing) == (Outcome.UNKNOWN, Reason.CARD_REMOVED, [])
