"""Unblocks while a second PC/SC client reads the same card in a loop.

The card's PIN references are local to its PKCS#15 application (a real card
system's way, sim/vcard/card_os.py). A second client runs ``kiosk card status``'s
read in a loop, and while the technician types the PUK a third program sends bare
commands outside any transaction (SELECT of the MF, an EF.DIR read): a command
landing between ours would read the wrong file, or aim VERIFY or the reset at
nothing. One transaction per operation, beginning with the application SELECT,
keeps every unblock and every read whole.
"""

from __future__ import annotations

import contextlib
import threading

import pytest
from smartcard import scard

from hw.errors import CardError
from hw.pcsc import PcscConnection
from hw.pins import pad_reference
from hw.profiles import open_session
from kiosk import card_commands
from protocol.reasons import Outcome
from sim.vcard.card_os import VARIANTS

pytestmark = pytest.mark.pcsc

UNBLOCKS = 100
NEW = "48291573"
SELECT_MF = bytes.fromhex("00A40000023F00")
SELECT_EF_DIR = bytes.fromhex("00A40200022F00")
READ_BINARY = bytes.fromhex("00B0000010")


def test_unblocks_beside_a_client_reading_in_a_loop(
    make_siths_slot, standard_siths_certificates, capsys
):
    holder, _ = standard_siths_certificates
    slot = make_siths_slot(card_os=VARIANTS["local-pin-references"])
    card = slot.card.state
    stop = threading.Event()
    reads: list[card_commands.CardReport | None] = []
    bare_rounds = [0]

    def second_client() -> None:
        while not stop.is_set():
            reads.append(card_commands.read_card(slot.reader))

    def typed(prompt: str, answers) -> str:
        if prompt.startswith("PUK"):  # meanwhile another program looks at the card
            with contextlib.suppress(CardError), PcscConnection(slot.reader) as bare:
                for command in (SELECT_MF, SELECT_EF_DIR, READ_BINARY):
                    bare.transmit(command)
                bare_rounds[0] += 1
        return next(answers)

    reader = threading.Thread(target=second_client, name="second PC/SC client")
    reader.start()
    outcomes = []
    try:
        for _ in range(UNBLOCKS):
            card.identification_pin.value = pad_reference("123456")
            card.identification_pin.tries_left = 0
            answers = iter(["12345678", NEW])
            result = card_commands.unblock(
                slot.reader, None, lambda prompt, answers=answers: typed(prompt, answers)
            )
            unlocked = card.identification_pin.value == pad_reference(NEW)
            outcomes.append(result.outcome is Outcome.UNLOCKED and unlocked)
    finally:
        stop.set()
        reader.join(30)
    right_reads = [
        r
        for r in reads
        if r is not None
        and r.profile == "siths"
        and r.problem is None
        and [p.name for p in r.pins] == ["Identification PIN", "Signature PIN", "PUK"]
        and r.holder is not None
        and r.holder.card_number == holder.card_number
    ]
    with capsys.disabled():
        print(
            f"\n{sum(outcomes)} of {UNBLOCKS} unblocks succeeded beside a second client;"
            f" {len(right_reads)} of {len(reads)} of its reads were right"
        )
    assert sum(outcomes) == UNBLOCKS
    assert reads and len(right_reads) == len(reads)
    assert bare_rounds[0] == UNBLOCKS  # a foreign SELECT came between every read and unblock


def reset_by_another_program(reader: str) -> None:
    """Another program connects and leaves resetting the card (its state on the card is gone)."""
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hresult == scard.SCARD_S_SUCCESS
    hresult, other, _protocol = scard.SCardConnect(
        context, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T1
    )
    assert hresult == scard.SCARD_S_SUCCESS
    scard.SCardDisconnect(other, scard.SCARD_RESET_CARD)
    scard.SCardReleaseContext(context)


def test_a_card_reset_by_another_program_is_read_and_unblocked_from_the_select(make_siths_slot):
    slot = make_siths_slot(card_os=VARIANTS["local-pin-references"], identification_tries_left=0)
    with PcscConnection(slot.reader) as connection:
        reset_by_another_program(slot.reader)
        pins = connection.in_transaction(lambda: open_session(connection).pin_statuses())
    assert [p.tries_left for p in pins] == [0, 3, 10]
    answers = iter(["12345678", NEW])

    def typed(prompt: str) -> str:
        if prompt.startswith("PUK"):  # the card is reset while the technician types
            reset_by_another_program(slot.reader)
        return next(answers)

    result = card_commands.unblock(slot.reader, None, typed)
    assert result.outcome is Outcome.UNLOCKED
    assert slot.card.state.identification_pin.value == pad_reference(NEW)
