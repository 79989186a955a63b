"""A card pulled out in the middle of an unblock, through real pcscd + vpcd."""

from __future__ import annotations

import pytest

from hw.apdu_processor import ApduProcessor
from hw.errors import CardRemoved
from hw.pcsc import PcscConnection
from hw.piv import constants as c
from hw.piv.session import PivSession
from hw.reader_events import EventKind
from hw.reader_watcher import ReaderWatcher
from hw.unblocking import settle
from protocol.reasons import Outcome
from sim.vcard.piv_card import DEFAULT_PUK
from tests.conftest import card_present, piv_state
from tests.harness.events import EventRecorder, is_kind
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.pcsc


def is_ins(ins: int):
    return lambda command: len(command) >= 2 and command[1] == ins


def test_card_pulled_during_unblock_is_reported_and_works_again(make_piv_slot):
    recorder = EventRecorder()
    watcher = ReaderWatcher(recorder, poll_ms=300)
    watcher.start()
    try:
        slot = make_piv_slot(piv_state(pin_tries_left=0))
        recorder.wait_for(is_kind(EventKind.CARD_INSERTED, slot.reader))
        mark = recorder.mark()
        slot.link.pull_on(is_ins(c.INS_RESET_RETRY_COUNTER))
        with PcscConnection(slot.reader) as connection:
            session = PivSession(ApduProcessor(connection))
            pulled = session.unblock(DEFAULT_PUK, "246810", safety_margin=1)
        # The reset was on its way: only the card, once back, can tell what happened.
        assert pulled.outcome is Outcome.UNKNOWN and pulled.card_must_come_back
        assert isinstance(pulled.error, CardRemoved)
        recorder.wait_for(is_kind(EventKind.CARD_REMOVED, slot.reader), after=mark)
        # The unblock never reached the card: still blocked, no PUK try spent.
        assert slot.card.state.pin_blocked
        assert slot.card.state.puk_tries_left == 3

        mark = recorder.mark()
        slot.insert()
        recorder.wait_for(is_kind(EventKind.CARD_INSERTED, slot.reader), after=mark)
        with PcscConnection(slot.reader) as connection:
            session = PivSession(ApduProcessor(connection))
            settled = settle(session, "PIV PIN", "246810", pulled.before)
            assert settled.outcome is Outcome.NOT_UNLOCKED
            assert session.pin_status().blocked
            again = session.unblock(DEFAULT_PUK, "246810", safety_margin=1)
            assert again.outcome is Outcome.UNLOCKED
    finally:
        watcher.stop()


def test_card_pulled_between_commands_gives_card_removed(make_piv_slot):
    slot = make_piv_slot()
    with PcscConnection(slot.reader) as connection:
        session = PivSession(ApduProcessor(connection))
        slot.link.remove()
        wait_for(lambda: not card_present(slot.reader), what="pcscd to see the removal")
        with pytest.raises(CardRemoved):
            session.pin_status()


def test_connection_survives_another_programs_reset(make_piv_slot):
    """``SCARD_W_RESET_CARD`` is an event to handle, not a crash."""
    from smartcard import scard

    from hw.errors import CardReset

    slot = make_piv_slot()
    with PcscConnection(slot.reader) as ours:
        session = PivSession(ApduProcessor(ours))
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        hresult, other, _protocol = scard.SCardConnect(
            context, slot.reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T1
        )
        assert hresult == scard.SCARD_S_SUCCESS
        scard.SCardDisconnect(other, scard.SCARD_RESET_CARD)
        scard.SCardReleaseContext(context)
        with pytest.raises(CardReset):
            session.pin_status()
    with PcscConnection(slot.reader) as fresh:
        assert PivSession(ApduProcessor(fresh)).pin_status().tries_left == 3
