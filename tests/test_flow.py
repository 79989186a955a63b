"""The unlock flow, table-driven: every state against removal, timeout, cancel, service
errors and card outcomes. Pure: no card, no network, no Kivy."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from kiosk.flow import effects as fx
from kiosk.flow import events as ev
from kiosk.flow.machine import FlowConfig, assess, transition
from kiosk.flow.model import CardFacts, LoginInfo, PinFacts
from kiosk.flow.states import (
    CardSummary,
    Done,
    Failed,
    Idle,
    LoginQr,
    NewPin,
    OutOfService,
    PukEntry,
    ReadingCard,
    StartingLogin,
    Unlocking,
)
from kiosk.pin_policy import PinRejection
from protocol.reasons import Outcome, Reason

CONFIG = FlowConfig()
READER = "Reader 0"
PNR = "198507122389"
SECRET_PINS = ("48291573", "59302684")
PUK = "12345678"


def card(*, ident_blocked=True, sign_blocked=False, puk_left=10, problems=(), profile="siths"):
    return CardFacts(
        profile=profile,
        card_number="9752269885719985027",
        holder_name="Anna Andersson",
        organisation="Region Test",
        valid_to=dt.date(2031, 11, 20),
        personal_identity_number=PNR,
        pins=(
            PinFacts(
                "Identification PIN", "identification", 0 if ident_blocked else 3, ident_blocked
            ),
            PinFacts("Signature PIN", "signature", 0 if sign_blocked else 3, sign_blocked),
            PinFacts("PUK", "puk", puk_left, puk_left == 0),
        ),
        problems=problems,
    )


LOGIN = LoginInfo("order-1", "mobiltsiths", "token", "secret", expires_at=180.0, poll_interval=2.0)


class Driver:
    """Feeds events through the machine, keeping time and all effects."""

    def __init__(self, state=None, now=0.0):
        self.state = state or Idle()
        self.now = now
        self.effects: list = []

    def send(self, event, *, at=None):
        if at is not None:
            self.now = at
        self.state, effects = transition(self.state, event, self.now, CONFIG)
        self.effects.extend(effects)
        return effects

    @property
    def sid(self):
        return self.state.session.session_id


def to_summary(facts=None) -> Driver:
    d = Driver()
    d.send(ev.CardInserted(READER))
    d.send(ev.CardRead(d.sid, facts or card()))
    return d


def to_qr(facts=None) -> Driver:
    d = to_summary(facts)
    d.send(ev.StartMobileLogin())
    d.send(ev.LoginStarted(d.sid, LOGIN))
    return d


def to_new_pin(facts=None, typed_first=False) -> Driver:
    d = to_qr(facts)
    d.send(ev.LoginUpdate(d.sid, "complete", None))
    if typed_first:
        d.send(ev.PinEntered(SECRET_PINS[0]))
    return d


def to_puk_new_pin() -> Driver:
    d = to_summary()
    d.send(ev.StartPukPath())
    d.send(ev.PinEntered(PUK))
    return d


def to_unlocking() -> Driver:
    d = to_new_pin()
    d.send(ev.PinEntered(SECRET_PINS[0]))
    d.send(ev.PinEntered(SECRET_PINS[0]))
    return d


def has_secret(obj) -> bool:
    """Whether any PIN or the PUK is reachable from a state."""
    text = repr(obj)
    if any(s in text for s in (*SECRET_PINS, PUK)):
        return True
    if dataclasses.is_dataclass(obj):
        return any(has_secret(getattr(obj, f.name)) for f in dataclasses.fields(obj))
    if isinstance(obj, tuple):
        return any(has_secret(item) for item in obj)
    return isinstance(obj, str) and obj in (*SECRET_PINS, PUK)


# -- the happy paths --------------------------------------------------------------------


def test_mobile_siths_unlock_from_insert_to_idle():
    d = Driver()
    assert isinstance(d.send(ev.CardInserted(READER))[0], fx.ReadCard)
    assert isinstance(d.state, ReadingCard)
    d.send(ev.CardRead(d.sid, card()))
    assert isinstance(d.state, CardSummary) and d.state.verdict is None
    assert d.send(ev.StartMobileLogin()) == (fx.StartLogin(d.sid, "9752269885719985027"),)
    poll = d.send(ev.LoginStarted(d.sid, LOGIN))[0]
    assert poll == fx.PollLogin(d.sid, "order-1", 2.0)
    assert isinstance(d.state, LoginQr) and d.state.hint == "outstandingTransaction"
    d.send(ev.LoginUpdate(d.sid, "pending", "userSign"))
    assert d.state.hint == "userSign"
    d.send(ev.LoginUpdate(d.sid, "complete", None))
    assert isinstance(d.state, NewPin) and d.state.targets == ("Identification PIN",)
    d.send(ev.PinEntered(SECRET_PINS[0]))
    assert d.state.confirming
    (effect,) = d.send(ev.PinEntered(SECRET_PINS[0]))
    assert isinstance(d.state, Unlocking)
    assert effect == fx.UnlockWithService(
        d.sid,
        READER,
        "order-1",
        "9752269885719985027",
        (("Identification PIN", SECRET_PINS[0]),),
    )
    d.send(ev.UnlockFinished(d.sid))
    assert isinstance(d.state, Done)
    d.send(ev.CardRemoved(READER))
    assert d.state == Idle(1)
    reports = [e for e in d.effects if isinstance(e, fx.Report)]
    assert [r.kind for r in reports] == [
        "session-started",
        "card-read",
        "login-started",
        "login-complete",
        "unlock-succeeded",
        "session-ended",
    ]
    assert {r.session_id for r in reports} == {1}
    assert all(r.card_number == "9752269885719985027" for r in reports[1:])
    assert reports[4].outcome == "unlocked"
    assert not any(has_secret(r) or PNR in repr(r) for r in reports)


def test_puk_letter_path():
    d = to_summary()
    d.send(ev.StartPukPath())
    assert isinstance(d.state, PukEntry)
    d.send(ev.PinEntered("1234"))
    assert d.state.error == "puk-format"
    d.send(ev.PinEntered(PUK))
    assert isinstance(d.state, NewPin) and d.state.order_ref is None
    d.send(ev.PinEntered(SECRET_PINS[0]))
    (effect,) = d.send(ev.PinEntered(SECRET_PINS[0]))
    assert isinstance(effect, fx.UnlockWithPuk)
    assert effect.puk == PUK and effect.new_pins == (("Identification PIN", SECRET_PINS[0]),)
    assert not has_secret(repr(effect))


def test_both_pins_blocked_needs_two_different_pins():
    d = to_new_pin(card(ident_blocked=True, sign_blocked=True))
    assert d.state.targets == ("Identification PIN", "Signature PIN")
    d.send(ev.PinEntered(SECRET_PINS[0]))
    d.send(ev.PinEntered(SECRET_PINS[0]))
    assert d.state.current_target == "Signature PIN"
    d.send(ev.PinEntered(SECRET_PINS[0]))
    d.send(ev.PinEntered(SECRET_PINS[0]))
    assert d.state.error is PinRejection.SAME_AS_OTHER_PIN
    d.send(ev.PinEntered(SECRET_PINS[1]))
    (effect,) = d.send(ev.PinEntered(SECRET_PINS[1]))
    assert effect.new_pins == (
        ("Identification PIN", SECRET_PINS[0]),
        ("Signature PIN", SECRET_PINS[1]),
    )


@pytest.mark.parametrize(
    ("first", "second", "rejection"),
    [
        ("48291573", "48291574", PinRejection.MISMATCH),
        ("123456", "123456", PinRejection.STRAIGHT_RUN),
        ("850712", "850712", PinRejection.BIRTH_DATE),
        ("000000", "000000", PinRejection.REPEATED_DIGIT),
    ],
)
def test_refused_new_pin_starts_over_with_the_reason(first, second, rejection):
    d = to_new_pin()
    d.send(ev.PinEntered(first))
    d.send(ev.PinEntered(second))
    assert isinstance(d.state, NewPin)
    assert d.state.error is rejection and not d.state.confirming
    assert not has_secret(d.state)


# -- every state against removal, timeout, cancel ------------------------------------------

BUILDERS = {
    "reading": lambda: (lambda d: (d.send(ev.CardInserted(READER)), d)[1])(Driver()),
    "summary": to_summary,
    "starting-login": lambda: (lambda d: (d.send(ev.StartMobileLogin()), d)[1])(to_summary()),
    "qr": to_qr,
    "puk-entry": lambda: (lambda d: (d.send(ev.StartPukPath()), d)[1])(to_summary()),
    "new-pin": lambda: to_new_pin(typed_first=True),
    "puk-new-pin": to_puk_new_pin,
    "unlocking": to_unlocking,
    "done": lambda: (lambda d: (d.send(ev.UnlockFinished(d.sid)), d)[1])(to_unlocking()),
    "failed": lambda: (lambda d: (d.send(ev.UnlockFailed(d.sid, "wrong-puk", 9)), d)[1])(
        to_unlocking()
    ),
}

HAS_LOGIN = {"qr", "new-pin"}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_card_removal_ends_the_session_and_wipes_the_pin(name):
    d = BUILDERS[name]()
    effects = d.send(ev.CardRemoved(READER))
    assert isinstance(d.state, Idle)
    assert not has_secret(d.state)
    cancels = [e for e in effects if isinstance(e, fx.CancelLogin)]
    assert bool(cancels) == (name in HAS_LOGIN)
    assert any(isinstance(e, fx.Report) and e.kind == "session-ended" for e in effects)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_removal_from_another_reader_changes_nothing(name):
    d = BUILDERS[name]()
    before = d.state
    d.send(ev.CardRemoved("Some other reader"))
    assert d.state == before


TIMEOUT_REASONS = {
    "reading": "card-unreadable",
    "summary": "timeout",
    "starting-login": "card-service-timeout",
    "qr": "login-expired",
    "puk-entry": "timeout",
    "new-pin": "timeout",
    "puk-new-pin": "timeout",
    "unlocking": "card-service-timeout",
}


@pytest.mark.parametrize("name", sorted(TIMEOUT_REASONS))
def test_inactivity_timeout_on_every_waiting_screen(name):
    d = BUILDERS[name]()
    d.send(ev.Tick(d.state.deadline - 0.1))
    assert not isinstance(d.state, Failed)
    d.send(ev.Tick(d.state.deadline))
    assert isinstance(d.state, Failed) and d.state.reason == TIMEOUT_REASONS[name]
    assert not has_secret(d.state)
    assert (fx.CancelLogin("order-1") in d.effects) == (name in HAS_LOGIN)


@pytest.mark.parametrize("name", ["done", "failed"])
def test_finished_screens_wait_for_the_card_to_be_taken(name):
    d = BUILDERS[name]()
    before = d.state
    d.send(ev.Tick(10_000.0))
    assert d.state == before


def test_the_whole_session_has_a_ceiling():
    d = to_qr()
    d.send(ev.LoginUpdate(d.sid, "complete", None))
    for step in range(1, 20):
        d.send(ev.PinEntered("1"), at=step * 60.0)  # keeps the screen alive, never finishes
        d.send(ev.Tick(d.now))
        if isinstance(d.state, Failed):
            break
    assert isinstance(d.state, Failed) and d.state.reason == "session-timeout"
    assert d.now >= CONFIG.timeouts.session_ceiling


@pytest.mark.parametrize("name", ["summary", "qr", "puk-entry", "new-pin", "puk-new-pin"])
def test_cancel(name):
    d = BUILDERS[name]()
    d.send(ev.Cancel())
    assert isinstance(d.state, Failed) and d.state.reason == "cancelled"
    assert not has_secret(d.state)


@pytest.mark.parametrize(
    "code",
    [
        "card-not-registered",
        "not-card-owner",
        "needs-id-administrator",
        "too-many-attempts",
        "login-expired",
        "maintenance",
        "card-service-unreachable",
        "card-service-timeout",
    ],
)
@pytest.mark.parametrize("name", ["starting-login", "qr", "unlocking"])
def test_each_service_error_ends_in_failed_with_its_reason(name, code):
    d = BUILDERS[name]()
    d.send(ev.ServiceRefused(d.sid, code))
    assert isinstance(d.state, Failed) and d.state.reason == code


LOGIN_REASONS = {
    "userCancel": "login-declined",
    "expiredTransaction": "login-expired",
    "startFailed": "login-not-scanned",
    "cancelled": "login-cancelled",
    None: "login-failed",
}


@pytest.mark.parametrize("hint", list(LOGIN_REASONS))
def test_login_failures_by_hint(hint):
    d = to_qr()
    d.send(ev.LoginUpdate(d.sid, "failed", hint))
    assert isinstance(d.state, Failed) and d.state.reason == LOGIN_REASONS[hint]
    (report,) = [e for e in d.effects if isinstance(e, fx.Report) and e.kind == "unlock-failed"]
    assert report.reason == LOGIN_REASONS[hint] and report.outcome == "not-unlocked"


@pytest.mark.parametrize(
    ("reason", "tries"),
    [
        ("wrong-puk", 7),
        ("puk-blocked", None),
        ("puk-margin", None),
        ("card-removed", None),
        ("cryptogram-rejected", None),
        ("pin-policy", None),
        ("card-error", None),
    ],
)
def test_each_card_outcome(reason, tries):
    d = to_unlocking()
    d.send(ev.UnlockFailed(d.sid, reason, tries))
    assert d.state == Failed(d.state.session, reason, tries)


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


def test_a_card_pulled_while_unlocking_is_reported_as_unknown_not_as_failed():
    d = to_unlocking()
    d.send(ev.CardRemoved(READER), at=42.0)
    (failed,) = reports_of(d, "unlock-failed")
    assert failed.reason == "card-removed" and failed.outcome == "unknown"
    assert failed.duration == 42.0
    assert reports_of(d, "session-ended")[0].detail == "Unlocking"


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
