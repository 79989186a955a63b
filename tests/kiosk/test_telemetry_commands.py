"""Fleet commands through a real Mosquitto to a real controller (fake card and card service):
maintenance never cuts a session under way; each command is answered with an event. And an
outbox that cannot be written: the kiosk keeps serving and says what was lost when it can."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid

import pytest

from hw.reader_events import EventKind, ReaderEvent
from kiosk.controller import Controller
from kiosk.event_sink import BackgroundSink
from kiosk.flow import events as ev
from kiosk.flow.states import CardSummary, Done, Idle, NewPin, OutOfService
from protocol import telemetry as tm
from tests.harness.small_disk import fill
from tests.harness.waiting import wait_for
from tests.kiosk.test_controller import NEW_PIN, READER, FakeCard, FakeService
from tests.kiosk.test_telemetry import make_telemetry, report


@pytest.fixture
def kiosk(broker, broker_pki, tmp_path):
    """Controller and telemetry wired as in the appliance (the sink off the flow thread)."""
    deliveries = []
    sink = BackgroundSink(lambda report: deliveries[0](report)).start()
    controller = Controller(
        card=FakeCard(), service=FakeService(), kiosk_id="kiosk-a", sink=sink, tick_interval=0.05
    )
    telemetry = make_telemetry(
        broker,
        broker_pki,
        tmp_path,
        condition=controller.condition,
        set_maintenance=controller.set_maintenance,
    )
    deliveries.append(telemetry.deliver)
    telemetry.start()
    controller.start()
    controller.on_reader_event(ReaderEvent(EventKind.READER_ADDED, READER))
    controller.wait_for(lambda state: isinstance(state, Idle), 10)
    yield controller, telemetry
    controller.stop()
    sink.stop()
    telemetry.stop()


def is_(kind):
    return lambda state: isinstance(state, kind)


def order(on=None) -> tm.CommandMessage:
    return tm.CommandMessage(id=str(uuid.uuid4()), at=dt.datetime.now(dt.UTC), by="anna", on=on)


def test_maintenance_waits_for_the_session_under_way_then_refuses_new_ones(kiosk, fleet):
    controller, _telemetry = kiosk
    fleet.wait(lambda: fleet.states("kiosk-a"), "the birth")
    controller.dispatch(ev.CardInserted(READER))
    controller.wait_for(is_(CardSummary), 10)
    command = order(on=True)
    fleet.command("kiosk-a", tm.Command.MAINTENANCE, command)
    fleet.wait(lambda: any(e.kind == "command-done" for e in fleet.events("kiosk-a")), "the answer")
    assert isinstance(controller.state, CardSummary)  # the holder is not cut off
    controller.dispatch(ev.StartMobileLogin())
    controller.wait_for(is_(NewPin), 10)
    controller.dispatch(ev.PinEntered(NEW_PIN))
    controller.dispatch(ev.PinEntered(NEW_PIN))
    controller.wait_for(is_(Done), 10)
    controller.dispatch(ev.CardRemoved(READER))
    controller.dispatch(ev.CardInserted(READER))  # the next person: not served
    state = controller.wait_for(is_(OutOfService), 10)
    assert state.reasons == ("kiosk-maintenance",)
    fleet.wait(
        lambda: "unlock-succeeded" in [e.kind for e in fleet.events("kiosk-a")], "the unlock"
    )
    assert "maintenance-changed" in [e.kind for e in fleet.events("kiosk-a")]
    done = next(e for e in fleet.events("kiosk-a") if e.kind == "command-done")
    assert command.id in done.detail
    fleet.wait(lambda: fleet.states("kiosk-a")[-1].maintenance, "a birth saying maintenance")
    fleet.command("kiosk-a", tm.Command.MAINTENANCE, order(on=False))
    controller.wait_for(is_(Idle), 10)


def test_rebirth_publishes_the_birth_again(kiosk, fleet):
    fleet.wait(lambda: len(fleet.states("kiosk-a")) == 1, "the birth")
    fleet.command("kiosk-a", tm.Command.REBIRTH, order())
    fleet.wait(lambda: len(fleet.states("kiosk-a")) == 2, "the rebirth")
    first, second = fleet.states("kiosk-a")
    assert first.incarnation == second.incarnation and second.state == "online"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"v": 1, "on": "yes please"}',
        b'{"v": 1, "id": "c1", "at": "2026-11-22T09:00:00Z", "by": "anna"}',  # on or off?
        b'{"v": 1, "id": "c1", "at": "2026-11-22T09:00:00Z", "on": null}',
        b"\xff\xfe not even text",
    ],
)
def test_a_command_the_kiosk_cannot_read_changes_nothing_and_is_answered(kiosk, fleet, payload):
    controller, _telemetry = kiosk
    fleet.wait(lambda: fleet.states("kiosk-a"), "the birth")
    topic = tm.topic("kiosk-a", tm.Channel.COMMAND, tm.Command.MAINTENANCE)
    fleet.client.publish(topic, payload, qos=1).wait_for_publish(10)
    fleet.wait(lambda: any(e.kind == "error" for e in fleet.events("kiosk-a")), "an error")
    assert not fleet.states("kiosk-a")[-1].maintenance and isinstance(controller.state, Idle)
    assert not any(e.kind == "command-done" for e in fleet.events("kiosk-a"))


def test_a_command_repeated_is_carried_out_once(kiosk, fleet):
    _controller, _telemetry = kiosk
    fleet.wait(lambda: fleet.states("kiosk-a"), "the birth")
    command = order(on=True)
    for _ in range(3):
        fleet.command("kiosk-a", tm.Command.MAINTENANCE, command)
    fleet.wait(
        lambda: [e.kind for e in fleet.events("kiosk-a")].count("command-done") == 3, "answers"
    )
    assert [e.kind for e in fleet.events("kiosk-a")].count("maintenance-changed") == 1


def test_maintenance_lasts_across_a_restart(broker, broker_pki, tmp_path, fleet):
    seen = []
    first = make_telemetry(broker, broker_pki, tmp_path, set_maintenance=seen.append).start()
    fleet.wait(lambda: fleet.states("kiosk-a"), "the birth")
    fleet.command("kiosk-a", tm.Command.MAINTENANCE, order(on=True))
    fleet.wait(lambda: fleet.states("kiosk-a")[-1].maintenance, "maintenance")
    first.stop()
    again = make_telemetry(broker, broker_pki, tmp_path, set_maintenance=seen.append).start()
    try:
        assert seen == [True, True]  # told to the controller again at start
        fleet.wait(lambda: fleet.states("kiosk-a")[-1].state == "online", "the new birth")
        assert fleet.states("kiosk-a")[-1].maintenance
        assert fleet.states("kiosk-a")[-1].incarnation > fleet.states("kiosk-a")[0].incarnation
    finally:
        again.stop()


def unlock(controller: Controller) -> None:
    controller.dispatch(ev.CardInserted(READER))
    controller.wait_for(is_(CardSummary), 10)
    controller.dispatch(ev.StartMobileLogin())
    controller.wait_for(is_(NewPin), 10)
    controller.dispatch(ev.PinEntered(NEW_PIN))
    controller.dispatch(ev.PinEntered(NEW_PIN))
    controller.wait_for(is_(Done), 10)
    controller.dispatch(ev.CardRemoved(READER))
    controller.wait_for(is_(Idle), 10)


def test_a_locked_outbox_never_stops_the_kiosk_and_the_loss_is_reported(kiosk, fleet, tmp_path):
    controller, telemetry = kiosk
    fleet.wait(lambda: fleet.states("kiosk-a"), "the birth")
    lock = sqlite3.connect(tmp_path / "kiosk-a.sqlite3", isolation_level=None, timeout=10)
    lock.execute("BEGIN EXCLUSIVE")
    unlock(controller)  # the holder is served while the outbox is locked
    wait_for(lambda: telemetry.tally.events_lost >= 5, what="the losses to be counted", timeout=60)
    lock.execute("ROLLBACK")
    lock.close()
    controller.dispatch(ev.CardInserted(READER))  # the next event goes out, after an error event
    fleet.wait(
        lambda: any("could not be kept" in (e.detail or "") for e in fleet.events("kiosk-a")),
        "the count of what was lost",
    )
    live = [e for e in fleet.events("kiosk-a") if e.kind == "error" and "locked" in e.detail]
    assert live, "the fleet was told at once, while the outbox was locked"
    assert telemetry.sample().counters.events_lost == telemetry.tally.events_lost >= 5


def test_a_full_disk_never_stops_the_kiosk_and_the_loss_is_reported(
    broker, broker_pki, small_disk, fleet
):
    telemetry = make_telemetry(broker, broker_pki, small_disk).start()
    try:
        fleet.wait(lambda: fleet.states("kiosk-a"), "the birth")
        filler = fill(small_disk)
        for session in range(1, 6):
            telemetry.deliver(report(session=session))  # returns: the kiosk goes on
        assert telemetry.tally.events_lost == 5
        said = fleet.wait(  # at once, past the outbox, while connected
            lambda: [e for e in fleet.events("kiosk-a") if e.kind == "error"], "a live error"
        )
        assert "cannot keep" in said[0].detail and "full" in said[0].detail
        filler.unlink()
        telemetry.deliver(report(session=6))
        fleet.wait(
            lambda: any(
                "5 event(s) could not be kept" in (e.detail or "") for e in fleet.events("kiosk-a")
            ),
            "the count of what was lost",
        )
        fleet.wait(lambda: any(e.session == "run-6" for e in fleet.events("kiosk-a")), "event 6")
    finally:
        telemetry.stop()


def test_losses_are_told_after_a_restart_too(broker, broker_pki, small_disk, fleet):
    telemetry = make_telemetry(broker, broker_pki, small_disk).start()
    fleet.wait(lambda: fleet.states("kiosk-a"), "the birth")
    broker.stop()  # not even a live error gets out
    filler = fill(small_disk)
    for session in range(1, 4):
        telemetry.deliver(report(session=session))
    telemetry.stop()  # the kiosk restarts before the outbox ever worked again
    filler.unlink()
    broker.start()
    again = make_telemetry(broker, broker_pki, small_disk).start()
    try:
        fleet.wait(
            lambda: any(
                "3 event(s) could not be kept" in (e.detail or "") for e in fleet.events("kiosk-a")
            ),
            "the count from before the restart",
            30,
        )
    finally:
        again.stop()
