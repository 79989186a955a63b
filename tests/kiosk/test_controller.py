"""The controller with fakes at its edges: no pcscd, no network. What a kiosk must do with
whatever the card, the card service and the event sink do."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest

from hw.reader_events import EventKind, ReaderEvent
from kiosk.cardservice_client import LoginStart, LoginStatus
from kiosk.cardservice_errors import CardServiceUnreachable
from kiosk.controller import Controller
from kiosk.event_sink import BackgroundSink
from kiosk.flow import effects as fx
from kiosk.flow import events as ev
from kiosk.flow.model import CardFacts, PinFacts
from kiosk.flow.states import (
    CardSummary,
    Done,
    Failed,
    Idle,
    LoginQr,
    NewPin,
    OutOfService,
    PutCardBack,
)
from kiosk.session_report import SessionReport
from tests.harness.waiting import wait_for

READER = "Reader 0"
CARD_NUMBER = "9752269885719985027"
PNR = "198507122389"
NEW_PIN = "48291573"
PUK = "12345678"

FACTS = CardFacts(
    profile="siths",
    card_number=CARD_NUMBER,
    holder_name="Anna Andersson",
    organisation="Region Test",
    valid_to=dt.date(2031, 11, 20),
    personal_identity_number=PNR,
    pins=(
        PinFacts("Identification PIN", "identification", 0, True),
        PinFacts("PUK", "puk", 10, False),
    ),
)


class FakeCard:
    """A card that reads as FACTS and unlocks when allowed to (``release``)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.release.set()
        self.unlocked_with: list[tuple[str, str]] = []

    def read_card(self, session_id: int, reader: str) -> ev.Event:
        return ev.CardRead(session_id, FACTS)

    def unlock_with_service(self, job, service, *, safety_margin, cancelled) -> ev.Event:
        self.release.wait(30)
        self.unlocked_with.extend(job.new_pins)
        return ev.UnlockFinished(job.session_id, "puk")

    def unlock_with_puk(self, job: fx.UnlockWithPuk, *, safety_margin: int) -> ev.Event:
        return ev.UnlockFinished(job.session_id, "puk-letter")


class FakeService:
    """A card service whose login completes at the first poll."""

    def __init__(self) -> None:
        self.up = True
        self.cancelled: list[str] = []

    def health(self) -> str:
        if not self.up:
            raise CardServiceUnreachable("down")
        return "ok"

    def start_login(self, card_number: str) -> LoginStart:
        return LoginStart(
            str(uuid.uuid4()),
            "token",
            "secret",
            "mobiltsiths",
            dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3),
            0.01,
        )

    def poll_login(self, order_ref: str) -> LoginStatus:
        return LoginStatus(order_ref, "complete", None)

    def cancel_login(self, order_ref: str) -> LoginStatus:
        self.cancelled.append(order_ref)
        return LoginStatus(order_ref, "failed", "cancelled")

    def request_unlock(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("the fake card does not ask for a credential")

    def report_outcome(self, unlock_id: str, result: object, reason: object = None) -> None:
        pass


def is_(kind):
    return lambda state: isinstance(state, kind)


@pytest.fixture
def parts():
    card, service, reports = FakeCard(), FakeService(), []
    made: list[Controller] = []

    def make(sink=reports.append) -> Controller:
        controller = Controller(
            card=card, service=service, kiosk_id="kiosk-7", sink=sink, tick_interval=0.05
        ).start()
        controller.on_reader_event(ReaderEvent(EventKind.READER_ADDED, READER))
        made.append(controller)
        return controller

    yield card, service, reports, make
    for controller in made:
        controller.stop()


def unlock(controller: Controller) -> None:
    controller.dispatch(ev.CardInserted(READER))
    controller.wait_for(is_(CardSummary), 10)
    controller.dispatch(ev.StartMobileLogin())
    controller.wait_for(is_(NewPin), 10)
    controller.dispatch(ev.PinEntered(NEW_PIN))
    controller.dispatch(ev.PinEntered(NEW_PIN))


def test_a_whole_unlock_is_reported_step_by_step_with_ids_and_no_secrets(parts):
    card, _service, reports, make = parts
    controller = make()
    unlock(controller)
    controller.wait_for(is_(Done), 10)
    controller.dispatch(ev.CardRemoved(READER))
    controller.wait_for(is_(Idle), 10)
    wait_for(lambda: reports and reports[-1].kind == "session-ended", what="the last report")
    reports = [r for r in reports if r.session is not None]  # not the start-up health
    assert card.unlocked_with == [("Identification PIN", NEW_PIN)]
    assert [r.kind for r in reports] == [
        "session-started",
        "card-read",
        "login-started",
        "login-complete",
        "unlock-succeeded",
        "session-ended",
    ]
    assert len({r.report_id for r in reports}) == len(reports)
    assert {r.kiosk_id for r in reports} == {"kiosk-7"}
    assert len({r.session for r in reports}) == 1
    assert reports[0].session.startswith(controller.incarnation)
    assert all(r.at.tzinfo is not None for r in reports)
    assert reports[4].step.mechanism == "puk" and reports[4].step.duration >= 0
    for report in reports:
        flat = repr(report) + repr(report.to_json())
        assert NEW_PIN not in flat and PUK not in flat and PNR not in flat


def test_a_stuck_event_sink_never_holds_up_the_screen(parts):
    _card, _service, _reports, make = parts
    stuck = threading.Event()
    delivered = []

    def slow_deliver(report) -> None:
        stuck.wait(30)
        delivered.append(report.kind)

    sink = BackgroundSink(slow_deliver).start()
    controller = make(sink)
    unlock(controller)
    controller.wait_for(is_(Done), 10)  # while the sink is still stuck on the first report
    assert delivered == []
    stuck.set()
    sink.stop()
    kiosk_level = ("out-of-service", "back-in-service", "reader-connected")
    session_kinds = [kind for kind in delivered if kind not in kiosk_level]
    assert session_kinds[0] == "session-started" and session_kinds[-1] == "unlock-succeeded"


def test_a_failing_event_sink_does_not_break_the_session(parts):
    _card, _service, _reports, make = parts

    def broken(report) -> None:
        raise RuntimeError("telemetry is broken")

    controller = make(broken)
    unlock(controller)
    controller.wait_for(is_(Done), 10)


def test_a_full_sink_counts_what_it_could_not_keep():
    sink = BackgroundSink(lambda report: None, capacity=2)  # not started: nothing drains
    report = SessionReport.of(
        fx.Report(fx.ReportKind.SESSION_STARTED, 1),
        kiosk_id="kiosk-7",
        incarnation="boot",
        at=dt.datetime.now(dt.UTC),
    )
    for _ in range(5):
        sink(report)
    assert sink.pending == 2 and sink.dropped == 3


def test_the_screen_answers_while_the_card_is_busy(parts):
    card, _service, _reports, make = parts
    card.release.clear()
    controller = make()
    unlock(controller)
    controller.dispatch(ev.CardRemoved(READER))
    # The unlock is still running on its worker; the screen asks for the card back.
    controller.wait_for(is_(PutCardBack), 10)
    card.release.set()
    controller.wait_for(is_(Done), 10)  # it finished after all: said, with the card out


def test_a_card_pulled_at_the_qr_cancels_the_login(parts):
    _card, service, _reports, make = parts
    service.poll_login = lambda ref: LoginStatus(ref, "pending", "outstandingTransaction")
    controller = make()
    controller.dispatch(ev.CardInserted(READER))
    controller.wait_for(is_(CardSummary), 10)
    controller.dispatch(ev.StartMobileLogin())
    controller.wait_for(is_(LoginQr), 10)
    controller.dispatch(ev.CardRemoved(READER))
    wait_for(lambda: len(service.cancelled) == 1, what="the login to be cancelled")


def test_out_of_service_while_the_card_service_is_down_and_back(parts):
    _card, service, reports, make = parts
    controller = make()
    service.up = False
    controller._check_health()
    state = controller.wait_for(
        lambda state: isinstance(state, OutOfService) and "card-service-down" in state.reasons, 10
    )
    assert state.reasons == ("card-service-down",)
    service.up = True
    controller._check_health()
    wait_for(lambda: any(r.kind == "back-in-service" for r in reports), what="back in service")


def test_a_card_service_refusal_ends_in_failed_with_its_reason(parts):
    _card, service, _reports, make = parts

    def refuse(card_number: str) -> LoginStart:
        raise CardServiceUnreachable("no route")

    service.start_login = refuse
    controller = make()
    controller.dispatch(ev.CardInserted(READER))
    controller.wait_for(is_(CardSummary), 10)
    controller.dispatch(ev.StartMobileLogin())
    failed = controller.wait_for(is_(Failed), 10)
    assert failed.reason == "card-service-unreachable"
