"""The unlock flow, table-driven: every state against removal, timeout, cancel, service
errors and card outcomes. Pure: no card, no network, no Kivy."""

from __future__ import annotations

import pytest

from kiosk.flow import effects as fx
from kiosk.flow import events as ev
from kiosk.flow.states import (
    CardSummary,
    Done,
    Failed,
    Idle,
    LoginQr,
    NewPin,
    PukEntry,
    ReadingCard,
    Unlocking,
)
from kiosk.pin_policy import PinRejection
from tests.kiosk.flow_driver import (
    CONFIG,
    LOGIN,
    PNR,
    PUK,
    READER,
    SECRET_PINS,
    Driver,
    card,
    has_secret,
    to_new_pin,
    to_puk_new_pin,
    to_qr,
    to_summary,
    to_unlocking,
)

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
        (
            ("Identification PIN", "identification"),
            ("Signature PIN", "signature"),
            ("PUK", "puk"),
        ),
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


#: Pulled while unlocking, the session waits for the card instead (test_flow_put_back.py).
ENDED_BY_REMOVAL = sorted(set(BUILDERS) - {"unlocking"})


@pytest.mark.parametrize("name", ENDED_BY_REMOVAL)
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
