"""How many commands the kiosk sends a card, from the card's own APDU log, held to a budget.

The standard virtual SITHS card (the reference card system, which takes
extended-length reads): the read on insertion and a whole unlock through the phone
login and the card service. If either sends more commands than its budget, the
test fails and lists every command sent. The unlock must also still keep what
issue 9 asks of it: it begins with the application SELECT, reads the PIN's state
before the reset and verifies the new PIN after it, and reads no file.
"""

from __future__ import annotations

import pytest

from hw.pins import pad_reference
from hw.pkcs15.files import PKCS15_AID
from kiosk.card_actions import PcscCardAccess
from kiosk.flow import effects as fx
from kiosk.flow import events as ev
from sim.vcard.apdu_log import ApduLog, LoggedCommand
from sim.vcard.siths_card import IDENTIFICATION_PIN_LABEL, SithsCardState, VirtualSithsCard
from sim.vcard.siths_files import IDENTIFICATION_PIN_REF, PUK_REF
from tests.kiosk.kiosk_driver import KioskDriver, RecordingService

pytestmark = pytest.mark.pcsc

#: Commands on insertion: SELECT the application; SELECT and READ BINARY EF.ODF, the
#: AODF, the CDF, the PrKDF and both certificates (one extended read each); three
#: empty VERIFY (both PINs and the PUK).
INSERTION_BUDGET = 16
#: Commands of a one-PIN unlock: SELECT the application, the PIN's state, the PUK's
#: state (its safety margin), RESET RETRY COUNTER, VERIFY the new PIN, log out the
#: PIN and the PUK.
UNLOCK_BUDGET = 7

OLD, NEW, PUK = "123456", "48291573", "12345678"
INS_SELECT, INS_READ_BINARY, INS_VERIFY, INS_RESET = 0xA4, 0xB0, 0x20, 0x2C


def listing(commands: list[LoggedCommand]) -> str:
    return "\n".join(f"  {number:2d}. {command}" for number, command in enumerate(commands, 1))


def within(what: str, commands: list[LoggedCommand], budget: int) -> None:
    assert len(commands) <= budget, (
        f"{what}: {len(commands)} commands, over the budget of {budget}:\n{listing(commands)}"
    )


def index_of(commands: list[LoggedCommand], ins: int, p2: int, *, with_data: bool) -> int:
    return next(
        i
        for i, c in enumerate(commands)
        if (c.ins, c.p2, c.p1, bool(c.data_length)) == (ins, p2, 0x00, with_data)
    )


@pytest.fixture
def logged_card(make_slot, siths_pki, standard_siths_certificates):
    """The standard virtual SITHS card, identification PIN blocked, behind an APDU log."""
    holder, certificates = standard_siths_certificates
    state = SithsCardState.issue(
        holder, siths_pki, certificates=certificates, identification_pin=OLD
    )
    state.identification_pin.tries_left = 0
    log = ApduLog(VirtualSithsCard(state))
    return holder, state, log, make_slot(log)


def test_insertion_and_unlock_stay_within_their_command_budgets(logged_card, cardservice, trust):
    holder, state, log, slot = logged_card
    cardservice.register(holder, secret=PUK.encode())
    kiosk = KioskDriver(
        slot.reader,
        PcscCardAccess(trust),
        RecordingService(cardservice.client()),
        cardservice,
        holder.personal_identity_number,
    )
    start = log.mark()
    unlock = kiosk.to_unlock(NEW)  # insertion, card read, phone login, the new PIN twice
    insertion = log.since(start)
    within("the read on insertion", insertion, INSERTION_BUDGET)

    start = log.mark()
    kiosk.run([unlock])
    unlocking = log.since(start)
    within("the unlock", unlocking, UNLOCK_BUDGET)
    assert state.identification_pin.value == pad_reference(NEW)
    assert not state.identification_pin.blocked

    described = listing(unlocking)
    first = unlocking[0]
    assert (first.ins, first.p1, first.selected) == (INS_SELECT, 0x04, PKCS15_AID), described
    assert all(c.ins != INS_READ_BINARY for c in unlocking), described
    before = index_of(unlocking, INS_VERIFY, IDENTIFICATION_PIN_REF, with_data=False)
    puk_state = index_of(unlocking, INS_VERIFY, PUK_REF, with_data=False)
    reset = index_of(unlocking, INS_RESET, IDENTIFICATION_PIN_REF, with_data=True)
    proven = index_of(unlocking, INS_VERIFY, IDENTIFICATION_PIN_REF, with_data=True)
    assert before < reset and puk_state < reset and reset < proven, described


def test_a_read_is_reused_only_by_its_own_session_on_a_card_that_stayed_in(logged_card, trust):
    _holder, state, log, slot = logged_card
    access = PcscCardAccess(trust)
    pins = ((IDENTIFICATION_PIN_LABEL, NEW),)

    def unlock(session_id: int) -> list[LoggedCommand]:
        state.identification_pin.value = pad_reference(OLD)
        state.identification_pin.tries_left = 0
        start = log.mark()
        job = fx.UnlockWithPuk(session_id, slot.reader, None, PUK, pins)
        assert isinstance(access.unlock_with_puk(job, safety_margin=3), ev.UnlockFinished)
        assert state.identification_pin.value == pad_reference(NEW)
        return log.since(start)

    assert isinstance(access.read_card(1, slot.reader), ev.CardRead)
    assert not any(c.ins == INS_READ_BINARY for c in unlock(1))
    # Another session: its own read is not there, so the card is read again.
    assert any(c.ins == INS_READ_BINARY for c in unlock(2))
    # The card went out and back in since the read: read again, whatever it is now.
    assert isinstance(access.read_card(3, slot.reader), ev.CardRead)
    slot.remove()
    slot.insert()
    assert any(c.ins == INS_READ_BINARY for c in unlock(3))
