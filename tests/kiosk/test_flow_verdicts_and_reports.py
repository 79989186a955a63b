"""The flow's verdicts on a card, stale results, service health, and what its reports say.
Pure: no card, no network, no Kivy."""

from __future__ import annotations

import dataclasses

import pytest

from kiosk.flow import effects as fx
from kiosk.flow import events as ev
from kiosk.flow.machine import assess
from kiosk.flow.states import CardSummary, Idle, OutOfService, ReadingCard, StartingLogin
from protocol.reasons import Outcome, Reason
from tests.kiosk.flow_driver import (
    CONFIG,
    READER,
    Driver,
    card,
    to_new_pin,
    to_qr,
    to_summary,
    to_unlocking,
)

# -- card verdicts, staleness, service health ------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "verdict"),
    [
        (card(), None),
        (card(ident_blocked=False), "not-blocked"),
        (card(puk_left=3), "puk-margin"),
        (card(puk_left=0), "puk-blocked"),
        (card(problems=("card-expired",)), "card-expired"),
        (card(problems=("untrusted-issuer",)), "untrusted-issuer"),
        (dataclasses.replace(card(), card_number=None), "no-card-number"),
        (card(profile="piv"), "not-siths"),
    ],
)
def test_card_summary_verdicts(facts, verdict):
    assert assess(facts, CONFIG) == verdict
    d = to_summary(facts)
    assert d.state.verdict == verdict
    if verdict is not None:
        d.send(ev.StartMobileLogin())
        d.send(ev.StartPukPath())
        assert isinstance(d.state, CardSummary)  # no way past a refusing summary


def test_results_of_an_earlier_session_are_ignored():
    d = to_summary()
    old = d.sid
    d.send(ev.CardRemoved(READER))
    d.send(ev.CardInserted(READER))
    assert d.sid == old + 1
    d.send(ev.CardRead(old, card(ident_blocked=False)))
    assert isinstance(d.state, ReadingCard)


def test_out_of_service_and_back():
    d = Driver()
    d.send(ev.ServiceHealth(reader_present=False, provisioned=True, card_service_up=False))
    assert d.state == OutOfService(("no-reader", "card-service-down"))
    d.send(ev.CardInserted(READER))
    assert isinstance(d.state, OutOfService)
    d.send(ev.ServiceHealth(reader_present=True, provisioned=True, card_service_up=True))
    assert d.state == Idle()


def test_health_change_does_not_break_a_session_under_way():
    d = to_qr()
    before = d.state
    d.send(ev.ServiceHealth(reader_present=True, provisioned=True, card_service_up=False))
    assert d.state == before


def test_start_login_is_marked_with_the_session():
    d = to_summary()
    d.send(ev.StartMobileLogin())
    assert isinstance(d.state, StartingLogin)


# -- what the reports say ---------------------------------------------------------------


def reports_of(d: Driver, kind: str) -> list[fx.Report]:
    return [e for e in d.effects if isinstance(e, fx.Report) and e.kind == kind]


def test_a_card_pulled_before_unlocking_reports_no_unlock_attempt():
    d = to_new_pin(typed_first=True)
    d.send(ev.CardRemoved(READER))
    assert reports_of(d, "unlock-failed") == []
    assert len(reports_of(d, "session-ended")) == 1


def test_an_unlock_that_never_answers_is_unknown():
    d = to_unlocking()
    d.send(ev.Tick(d.state.deadline))
    assert d.state.outcome == "unknown"
    assert reports_of(d, "unlock-failed")[0].outcome == "unknown"


def test_a_card_failure_report_carries_reason_tries_outcome_and_mechanism():
    d = to_unlocking()
    d.send(ev.UnlockFailed(d.sid, Reason.WRONG_PUK, 6, Outcome.NOT_UNLOCKED, "puk"))
    (failed,) = reports_of(d, "unlock-failed")
    assert (failed.reason, failed.tries_left, failed.outcome, failed.mechanism) == (
        "wrong-puk",
        6,
        "not-unlocked",
        "puk",
    )
    assert d.state.outcome == "not-unlocked"


def test_success_names_the_mechanism():
    d = to_unlocking()
    d.send(ev.UnlockFinished(d.sid, "admin-key"))
    (done,) = reports_of(d, "unlock-succeeded")
    assert done.mechanism == "admin-key" and done.outcome == "unlocked"


def test_out_of_service_is_reported_once_with_its_causes():
    d = Driver()
    health = ev.ServiceHealth(reader_present=False, provisioned=True, card_service_up=True)
    d.send(health)
    d.send(health)
    (report,) = reports_of(d, "out-of-service")
    assert report.reason == "no-reader" and report.session_id is None
    d.send(ev.ServiceHealth(reader_present=True, provisioned=True, card_service_up=True))
    assert len(reports_of(d, "back-in-service")) == 1
