"""The profile probe tries every profile, whatever status word a SELECT gets.

A PIV card may answer the PKCS#15 application's SELECT with 6999, 6E00 or 6A88
rather than 6A82; it is still a PIV card. Through real pcscd + vpcd.
"""

from __future__ import annotations

import pytest

from hw.apdu import CommandApdu
from hw.pcsc import PcscConnection
from hw.profiles import open_session
from sim.vcard.apdu_card import sw
from sim.vcard.piv_card import VirtualPivCard
from sim.vcard.siths_files import PKCS15_AID
from tests.conftest import piv_state

pytestmark = pytest.mark.pcsc


class PivCardRefusingOddly(VirtualPivCard):
    """A PIV card refusing the PKCS#15 application with whatever status word it is given."""

    refusal = 0x6A82

    def _select(self, command: CommandApdu) -> bytes:
        if command.data == PKCS15_AID:
            return sw(self.refusal)
        return super()._select(command)


def test_a_piv_card_is_found_whatever_the_pkcs15_select_answers(make_slot):
    card = PivCardRefusingOddly(piv_state(pin_tries_left=0))
    slot = make_slot(card)
    for refusal in (0x6999, 0x6E00, 0x6A88, 0x6D00, 0x6F00):
        card.refusal = refusal
        with PcscConnection(slot.reader) as connection:
            session = connection.in_transaction(lambda c=connection: open_session(c))
            assert session.profile == "piv", f"{refusal:04X}"
            assert session.pin_statuses()[0].blocked
