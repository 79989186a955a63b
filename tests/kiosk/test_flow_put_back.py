"""The card pulled while it was being unlocked: "put the card back", then the outcome settled.
Pure: no card, no network, no Kivy."""

from __future__ import annotations

import pytest

from kiosk.flow import effects as fx
from kiosk.flow import events as ev
from kiosk.flow.model import Unsettled, UnsettledPin
from kiosk.flow.states import Done, Failed, Idle, PutCardBack, ReadingCard
from protocol.reasons import Outcome, Reason
from tests.kiosk.flow_driver import CONFIG, READER, SECRET_PINS, Driver, has_secret, to_unlocking

PENDING = Unsettled(
    Reason.CARD_REMOVED,
    "puk",
    (UnsettledPin("Identification PIN", SECRET_PINS[0], True, 0),),
    credentials=(("unlock-1", ("Identification PIN",)),),
)
GRACE = CONFIG.timeouts.put_back
SHOWN = CONFIG.timeouts.result_shown


def reports_of(d: Driver, kind: str) -> list[fx.Report]:
    return [e for e in d.effects if isinstance(e, fx.Report) and e.kind == kind]


def pulled(at: float = 10.0) -> Driver:
    d = to_unlocking()
    d.send(ev.CardRemoved(READER), at=at)
    return d


def unknown(d: Driver) -> tuple:
    return d.send(
        ev.UnlockFailed(d.sid, Reason.CARD_REMOVED, None, Outcome.UNKNOWN, "puk", PENDING)
    )


def test_pulled_mid_unlock_asks_for_the_card_back_and_settles_unlocked():
    d = pulled()
    assert isinstance(d.state, PutCardBack) and d.state.deadline == 10.0 + GRACE
    assert reports_of(d, "session-ended") == []  # the session waits for the card
    unknown(d)
    (failed,) = reports_of(d, "unlock-failed")
    assert (failed.reason, failed.outcome) == ("card-removed", "unknown")
    (check,) = d.send(ev.CardInserted(READER), at=15.0)
    assert check == fx.ResolveUnlock(d.sid, READER, "9752269885719985027", PENDING)
    assert not has_secret(repr(check))
    d.send(ev.UnlockResolved(d.sid, Outcome.UNLOCKED, None, "puk"), at=15.5)
    assert d.state == Done(d.state.session)  # the card is in: it waits for removal
    (resolved,) = reports_of(d, "unlock-resolved")
    assert (resolved.outcome, resolved.reason, resolved.mechanism) == ("unlocked", None, "puk")
    assert resolved.duration == 15.5
    d.send(ev.CardRemoved(READER))
    assert isinstance(d.state, Idle) and not has_secret(d.state)
    assert len(reports_of(d, "session-ended")) == 1


def test_settled_not_unlocked_says_the_card_is_unchanged():
    d = pulled()
    unknown(d)
    d.send(ev.CardInserted(READER))
    d.send(ev.UnlockResolved(d.sid, Outcome.NOT_UNLOCKED, Reason.CARD_REMOVED, "puk"))
    assert isinstance(d.state, Failed) and d.state.until is None
    assert (d.state.reason, d.state.outcome) == ("card-removed", "not-unlocked")
    assert reports_of(d, "unlock-resolved")[0].outcome == "not-unlocked"


def test_card_back_before_the_unlock_answered_is_checked_as_soon_as_it_does():
    d = pulled()
    assert d.send(ev.CardInserted(READER)) == ()
    effects = unknown(d)
    assert any(isinstance(e, fx.ResolveUnlock) for e in effects)


def test_outcome_known_without_the_card_is_shown_then_idle():
    d = pulled(at=10.0)
    d.send(ev.UnlockFinished(d.sid, "puk"), at=11.0)  # the new PIN verified before the pull
    assert d.state == Done(d.state.session, until=11.0 + SHOWN)
    assert reports_of(d, "unlock-succeeded")[0].outcome == "unlocked"
    d.send(ev.Tick(11.0 + SHOWN - 0.1))
    assert isinstance(d.state, Done)
    d.send(ev.Tick(11.0 + SHOWN))
    assert isinstance(d.state, Idle)
    assert reports_of(d, "session-ended")[0].detail == "Done"


def test_pulled_before_the_reset_is_not_unlocked_and_a_new_card_starts_a_new_session():
    d = pulled()
    old = d.sid
    d.send(ev.UnlockFailed(d.sid, Reason.CARD_REMOVED, None, Outcome.NOT_UNLOCKED, "puk"))
    assert isinstance(d.state, Failed) and d.state.until is not None
    assert d.state.outcome == "not-unlocked"
    d.send(ev.CardInserted(READER))
    assert isinstance(d.state, ReadingCard) and d.sid == old + 1
    assert len(reports_of(d, "session-ended")) == 1


def test_a_service_refusal_arriving_after_the_pull_is_not_unlocked():
    d = pulled()
    d.send(ev.ServiceRefused(d.sid, Reason.NOT_CARD_OWNER))
    assert isinstance(d.state, Failed) and d.state.until is not None
    assert (d.state.reason, d.state.outcome) == ("not-card-owner", "not-unlocked")
    assert reports_of(d, "unlock-failed")[0].outcome == "not-unlocked"


def test_another_card_is_named_and_the_right_one_still_awaited():
    d = pulled()
    unknown(d)
    d.send(ev.CardInserted(READER))
    d.send(ev.UnlockResolved(d.sid, Outcome.UNKNOWN, Reason.OTHER_CARD))
    assert isinstance(d.state, PutCardBack)
    assert (d.state.note, d.state.checking, d.state.card_in) == ("other-card", False, True)
    assert reports_of(d, "unlock-resolved") == []
    d.send(ev.CardRemoved(READER))
    (check,) = d.send(ev.CardInserted(READER))
    assert isinstance(check, fx.ResolveUnlock)


def test_grace_period_over_leaves_the_outcome_unknown():
    d = pulled(at=10.0)
    unknown(d)
    d.send(ev.Tick(10.0 + GRACE - 0.1))
    assert isinstance(d.state, PutCardBack)
    d.send(ev.Tick(10.0 + GRACE))
    assert isinstance(d.state, Failed) and d.state.outcome == "unknown"
    assert d.state.pending is None and not has_secret(d.state)  # the new PIN is dropped
    assert len(reports_of(d, "unlock-failed")) == 1  # said once, when it became unknown
    d.send(ev.Tick(10.0 + GRACE + SHOWN))
    assert isinstance(d.state, Idle)


def test_grace_period_over_before_the_unlock_answered_reports_unknown():
    d = pulled(at=10.0)
    d.send(ev.Tick(10.0 + GRACE))
    (failed,) = reports_of(d, "unlock-failed")
    assert failed.outcome == "unknown"


def test_grace_period_waits_for_a_check_under_way():
    d = pulled(at=10.0)
    unknown(d)
    d.send(ev.CardInserted(READER))
    d.send(ev.Tick(10.0 + GRACE + 1))
    assert isinstance(d.state, PutCardBack) and d.state.checking


def test_a_mute_card_is_failed_until_taken_out_then_asked_back():
    d = to_unlocking()
    d.send(ev.UnlockFailed(d.sid, Reason.CARD_NOT_ANSWERING, None, Outcome.UNKNOWN, "puk", PENDING))
    assert isinstance(d.state, Failed) and d.state.pending == PENDING
    assert (d.state.reason, d.state.outcome) == ("card-not-answering", "unknown")
    assert not has_secret(repr(d.state))
    d.send(ev.CardRemoved(READER))
    assert isinstance(d.state, PutCardBack) and d.state.note == "card-not-answering"
    (check,) = d.send(ev.CardInserted(READER))
    assert check.pending == PENDING


@pytest.mark.parametrize(
    ("outcome", "reason", "shown"),
    [
        ("unlocked", "partly-unlocked", ("partly-unlocked", "unlocked")),
        ("not-unlocked", None, ("card-removed", "not-unlocked")),
    ],
)
def test_settled_failures_say_what_the_card_said(outcome, reason, shown):
    d = pulled()
    unknown(d)
    d.send(ev.CardInserted(READER))
    d.send(ev.UnlockResolved(d.sid, outcome, reason))
    assert (d.state.reason, d.state.outcome) == shown


def test_other_readers_and_stale_answers_change_nothing():
    d = pulled()
    unknown(d)
    before = d.state
    assert d.send(ev.CardInserted("Reader 1")) == ()
    d.send(ev.CardRemoved("Reader 1"))
    d.send(ev.UnlockResolved(d.sid - 1, Outcome.UNLOCKED))
    assert d.state == before
