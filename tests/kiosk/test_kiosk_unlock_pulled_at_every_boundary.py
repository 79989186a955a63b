"""The kiosk's unlock with the card pulled at every APDU boundary.

Real pcscd + vpcd, the real card work, the reference card service over mutual
TLS; the flow driven step by step (tests/kiosk/kiosk_driver.py) so the card can
be pulled at an exact APDU and put back, as the holder would after "put the card
back". For every boundary, what the screen, the session report and the card
service were told equals the card's real state (read from the virtual card),
at most one PUK try is spent, and a second attempt unlocks a card the first did not.
"""

from __future__ import annotations

import dataclasses

import pytest

from cardservice.service import ServiceConfig
from hw.pins import pad_reference
from kiosk.card_actions import PcscCardAccess
from kiosk.flow import events as ev
from kiosk.flow.states import Failed, PutCardBack
from protocol.reasons import Outcome
from sim.siths_pki import SithsHolder
from tests.conftest import VirtualCardSlot
from tests.harness.cardservice import CardServiceHarness
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
from tests.kiosk.kiosk_driver import KioskDriver, RecordingService, shown_outcome

pytestmark = pytest.mark.pcsc

OLD, NEW = "123456", "48291573"
#: Two holders, one per reader slot: one active login per person.
HOLDERS = (
    SithsHolder(),
    dataclasses.replace(
        SithsHolder(),
        given_name="Bo",
        hsa_id="SE2321000016-B2C3",
        personal_identity_number="197603142396",
        card_number="9752269885719985035",
        email="bo.andersson@example.org",
    ),
)


@pytest.fixture
def busy_cardservice(tmp_path, dev_pki, smtp_sink):
    """The reference card service with room for many attempts on one card in a day."""
    smtp_sink.clear()
    config = ServiceConfig(card_attempt_limit=10_000, kiosk_login_limit=10_000)
    harness = CardServiceHarness(tmp_path / "cardservice", dev_pki, smtp_sink, config)
    yield harness
    harness.stop()


def block(slot: VirtualCardSlot) -> None:
    pin = slot.card.state.identification_pin
    pin.value, pin.tries_left = pad_reference(OLD), 0
    slot.card.state.puk.tries_left = slot.card.state.puk.max_tries


def truth(slot: VirtualCardSlot) -> Outcome | None:
    pin = slot.card.state.identification_pin
    return pin_truth(pin.value, pin.blocked, OLD, NEW)


def pulled_unlock(kiosk: KioskDriver, slot: VirtualCardSlot, boundary: Boundary) -> Checked:
    """One unlock with the card pulled at ``boundary``; what went wrong, if anything."""
    block(slot)
    puk_before = slot.card.state.puk.tries_left
    unlock = kiosk.to_unlock(NEW)
    issued_before = len(kiosk.service.issued)
    interruption = arm(slot, boundary)
    result = kiosk.card.unlock_with_service(unlock, kiosk.service, safety_margin=3)
    if interruption.fired:  # what the reader watcher would say, then the unlock's result
        kiosk.run(kiosk.send(ev.CardRemoved(kiosk.reader)))
    kiosk.run(kiosk.send(result))
    put_back(slot)
    asked_back = isinstance(kiosk.state, PutCardBack)
    if asked_back:  # the holder puts the card back
        kiosk.run(kiosk.send(ev.CardInserted(kiosk.reader)))
    real = truth(slot)
    problems = []
    if not interruption.fired:
        problems.append("the card was never pulled")
    screen = shown_outcome(kiosk.last_result())
    if screen is not real:
        problems.append(f"the screen says {screen} ({kiosk.state}), the card is {real}")
    report = kiosk.last_unlock_report()
    if report is None or report.outcome is not real:
        problems.append(f"the report says {report and report.outcome}, the card is {real}")
    for unlock_id in kiosk.service.issued[issued_before:]:
        told = kiosk.service.last_told(unlock_id)
        if told is not real:
            problems.append(f"the card service was told {told}, the card is {real}")
        recorded = kiosk.cardservice.store.unlock(unlock_id).outcome  # what it will e-mail
        if recorded != real:
            problems.append(f"the card service recorded {recorded}, the card is {real}")
    if slot.card.state.puk.tries_left < puk_before - 1:
        problems.append("more than one PUK try spent")
    if real is not Outcome.UNLOCKED:
        if isinstance(kiosk.state, Failed) and kiosk.state.until is None:
            kiosk.send(ev.CardRemoved(kiosk.reader))
        again = shown_outcome(kiosk.unlock(NEW))
        if again is not Outcome.UNLOCKED or truth(slot) is not Outcome.UNLOCKED:
            problems.append(f"the second attempt showed {again}; the card is {truth(slot)}")
    return problems, asked_back


def test_kiosk_unlock_pulled_at_every_boundary(
    make_siths_slot, busy_cardservice, siths_pki, trust, capsys
):
    slots, kiosks = [], {}
    for number, holder in enumerate(HOLDERS):
        busy_cardservice.register(holder, secret=b"12345678")
        slot = make_siths_slot(slot=number, holder=holder, identification_pin=OLD)
        slots.append(slot)
        kiosks[slot.reader] = KioskDriver(
            slot.reader,
            PcscCardAccess(trust),
            RecordingService(busy_cardservice.client()),
            busy_cardservice,
            holder.personal_identity_number,
        )
    first = kiosks[slots[0].reader]
    block(slots[0])
    unlock = first.to_unlock(NEW)
    commands = count_commands(slots[0], lambda: first.run([unlock]))
    assert truth(slots[0]) is Outcome.UNLOCKED  # undisturbed, it works
    tally = Tally(f"kiosk unlock ({commands} APDUs)")
    every = list(boundaries(commands))
    results = on_both_slots(
        slots, every, lambda slot, boundary: pulled_unlock(kiosks[slot.reader], slot, boundary)
    )
    for boundary, (problems, asked_back) in results:
        tally.check(boundary, problems, put_back=asked_back)
    with capsys.disabled():
        print(f"\n{tally.line}")
    assert tally.wrong is None, "\n".join(tally.wrong or [])
