"""The card layer against every card-system variant of the virtual SITHS card.

Real card systems differ where the card layer could be caught out (the table is in
docs/card-profiles.md; the switches in sim/vcard/card_os.py): PIN references local
to the application, the PUK refusing the empty VERIFY (6A88), the PUK left verified
after a reset, answers through GET RESPONSE (T=0) or only with extended length, no
extended length at all. Each
variant gets the kiosk's read, ``card unblock``, a two-PIN unlock with one PUK, an
admin-key unlock, and an unblock pulled as the reset is answered, then settled.
"""

from __future__ import annotations

import pytest

from hw.pcsc import PcscConnection
from hw.pins import PukSafetyMargin, pad_reference
from hw.profiles import open_session
from kiosk import card_commands
from kiosk.card_actions import PcscCardAccess
from kiosk.flow import effects as fx
from kiosk.flow import events as ev
from protocol.admin_key import admin_cryptogram
from protocol.reasons import Outcome
from sim.vcard.card_os import VARIANTS
from sim.vcard.siths_card import IDENTIFICATION_PIN_LABEL as IDENT
from sim.vcard.siths_card import SIGNATURE_PIN_LABEL as SIGN
from tests.kiosk.boundaries import put_back

pytestmark = pytest.mark.pcsc

PUK, OLD, NEW, OTHER = "12345678", "123456", "48291573", "59302684"
ADMIN_KEY = bytes(range(16))


def block(card, *pins) -> None:
    for pin in pins:
        pin.value, pin.tries_left = pad_reference(OLD), 0
    card.puk.tries_left = card.puk.max_tries


def unblock(slot, margin: int = 3, *, card_back=lambda: False) -> Outcome:
    answers = iter([PUK, NEW])
    result = card_commands.unblock(
        slot.reader, None, lambda _p: next(answers), safety_margin=margin, card_back=card_back
    )
    return result.outcome


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_card_layer_on_every_card_system(variant, make_siths_slot, trust):
    card_os = VARIANTS[variant]
    slot = make_siths_slot(card_os=card_os, admin_key=ADMIN_KEY)
    card = slot.card.state
    access = PcscCardAccess(trust)

    # The kiosk's read: holder, every PIN's state (the PUK's where the card tells).
    block(card, card.identification_pin)
    read = access.read_card(1, slot.reader)
    assert isinstance(read, ev.CardRead) and read.card.problems == ()
    pins = {p.name: p for p in read.card.pins}
    assert (pins[IDENT].blocked, pins[SIGN].tries_left) == (True, 3)
    assert pins["PUK"].tries_left == (10 if card_os.puk_reports_tries else None)

    # card unblock: with the PUK's counter unknown, the margin refuses; without a margin, done.
    if card_os.puk_reports_tries:
        assert unblock(slot) is Outcome.UNLOCKED
    else:
        with pytest.raises(PukSafetyMargin):
            unblock(slot)
        assert card.identification_pin.blocked and card.puk.tries_left == 10
        assert unblock(slot, margin=0) is Outcome.UNLOCKED
    assert card.identification_pin.value == pad_reference(NEW)

    # Both PINs with one PUK (the second reset finds the PUK verified on some cards).
    block(card, card.identification_pin, card.signature_pin)
    job = fx.UnlockWithPuk(1, slot.reader, None, PUK, ((IDENT, NEW), (SIGN, OTHER)))
    both = access.unlock_with_puk(job, safety_margin=0 if not card_os.puk_reports_tries else 3)
    assert isinstance(both, ev.UnlockFinished), both
    assert card.signature_pin.value == pad_reference(OTHER)

    # The admin key never uses the PUK, whatever the card says of it.
    block(card, card.identification_pin)
    with PcscConnection(slot.reader) as connection:
        session = open_session(connection)
        outcome = session.unblock_pin_with_admin_key(
            IDENT, NEW, lambda challenge: admin_cryptogram(ADMIN_KEY, challenge)
        )
    assert outcome.outcome is Outcome.UNLOCKED

    # Pulled as the reset is answered: settled from the card put back.
    block(card, card.identification_pin)
    slot.link.pull_on(lambda command: command[1] == 0x2C, after=True)
    reported = unblock(slot, margin=0, card_back=lambda: put_back(slot) or True)
    assert reported is Outcome.UNLOCKED
    assert card.identification_pin.value == pad_reference(NEW)
