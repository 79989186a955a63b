"""Our PIV session against a virtual PIV card, through real pcscd + vpcd."""

from __future__ import annotations

import pytest

from hw.apdu_processor import ApduProcessor
from hw.errors import UnsupportedCard
from hw.pcsc import PcscConnection
from hw.pins import (
    PinBlocked,
    PinPolicyViolation,
    PukBlocked,
    PukSafetyMargin,
    WrongPin,
    WrongPuk,
)
from hw.piv.session import PivSession
from protocol.reasons import Outcome
from sim.vcard.piv_card import DEFAULT_PUK
from sim.vcard.piv_objects import standard_objects
from tests.conftest import piv_state

pytestmark = pytest.mark.pcsc


def open_piv(reader: str) -> tuple[PcscConnection, PivSession]:
    connection = PcscConnection(reader)
    return connection, PivSession(ApduProcessor(connection))


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_reads_chuid_and_authentication_certificate(make_piv_slot, compressed):
    objects = standard_objects(
        holder="Anna Andersson", credential_number="654321", compress_certificate=compressed
    )
    slot = make_piv_slot(piv_state(objects=objects))
    connection, session = open_piv(slot.reader)
    with connection:
        chuid = session.read_chuid()
        certificate = session.read_certificate()
    assert chuid is not None
    assert chuid.fascn.credential_number == "654321"
    assert chuid.expires.year >= 2027
    assert certificate is not None
    assert "Anna Andersson" in certificate.subject.rfc4514_string()


def test_card_without_certificate_reports_none(make_piv_slot):
    slot = make_piv_slot(piv_state(objects=standard_objects(with_certificate=False)))
    connection, session = open_piv(slot.reader)
    with connection:
        assert session.read_certificate() is None


def test_sees_blocked_pin_and_puk_tries(make_piv_slot):
    slot = make_piv_slot(piv_state(pin_tries_left=0, puk_tries_left=2))
    connection, session = open_piv(slot.reader)
    with connection:
        pin, puk = session.pin_statuses()
    assert (pin.blocked, pin.tries_left) == (True, 0)
    assert (puk.blocked, puk.tries_left) == (False, 2)


def test_empty_verify_spends_no_try(make_piv_slot):
    slot = make_piv_slot(piv_state(pin_tries_left=2))
    connection, session = open_piv(slot.reader)
    with connection:
        for _ in range(5):
            assert session.pin_status().tries_left == 2
    assert slot.card.state.pin_tries_left == 2


def test_unblock_with_right_puk_then_new_pin_verifies(make_piv_slot):
    slot = make_piv_slot(piv_state(pin_tries_left=0))
    connection, session = open_piv(slot.reader)
    with connection:
        after = session.unblock(DEFAULT_PUK, "246810", safety_margin=1)
        assert after.outcome is Outcome.UNLOCKED  # reset, and the new PIN verified
        assert (after.before.blocked, after.before.tries_left) == (True, 0)
        assert slot.card.pin_verified
        session.verify_pin("246810")
        with pytest.raises(WrongPin) as wrong:
            session.verify_pin("135790")
        assert wrong.value.tries_left == 2


def test_wrong_puk_reports_tries_left(make_piv_slot):
    slot = make_piv_slot(piv_state(pin_tries_left=0))
    connection, session = open_piv(slot.reader)
    with connection:
        with pytest.raises(WrongPuk) as wrong:
            session.unblock("87654321", "246810", safety_margin=0)
        assert wrong.value.tries_left == 2
        assert session.pin_status().blocked
    assert slot.card.state.puk_tries_left == 2


def test_blocked_puk_is_reported(make_piv_slot):
    slot = make_piv_slot(piv_state(pin_tries_left=0, puk_tries_left=0))
    connection, session = open_piv(slot.reader)
    with connection, pytest.raises(PukBlocked):
        session.unblock(DEFAULT_PUK, "246810", safety_margin=0)


def test_last_wrong_puk_try_reports_blocked(make_piv_slot):
    slot = make_piv_slot(piv_state(pin_tries_left=0, puk_tries_left=1))
    connection, session = open_piv(slot.reader)
    with connection, pytest.raises(PukBlocked):
        session.unblock("87654321", "246810", safety_margin=0)
    assert slot.card.state.puk_blocked


@pytest.mark.parametrize(("tries_left", "margin"), [(1, 1), (2, 2), (2, 5)])
def test_safety_margin_stops_a_try_without_touching_the_card(make_piv_slot, tries_left, margin):
    slot = make_piv_slot(piv_state(pin_tries_left=0, puk_tries_left=tries_left))
    connection, session = open_piv(slot.reader)
    with connection:
        with pytest.raises(PukSafetyMargin) as refused:
            session.unblock(DEFAULT_PUK, "246810", safety_margin=margin)
        assert refused.value.tries_left == tries_left
    # Not even the right PUK was sent: the counter and the blocked PIN are as they were.
    assert slot.card.state.puk_tries_left == tries_left
    assert slot.card.state.pin_blocked


@pytest.mark.parametrize("bad_pin", ["12345", "123456789", "12a456", "１２３４５６"])
def test_new_pin_policy_checked_before_the_card_is_asked(make_piv_slot, bad_pin):
    slot = make_piv_slot(piv_state(pin_tries_left=0))
    connection, session = open_piv(slot.reader)
    with connection, pytest.raises(PinPolicyViolation):
        session.unblock(DEFAULT_PUK, bad_pin, safety_margin=0)
    assert slot.card.state.puk_tries_left == 3


def test_change_pin_and_block_by_wrong_pins(make_piv_slot):
    slot = make_piv_slot()
    connection, session = open_piv(slot.reader)
    with connection:
        session.change_pin("123456", "11223344")
        session.verify_pin("11223344")
        session.logout()
        for expected in (2, 1):
            with pytest.raises(WrongPin) as wrong:
                session.verify_pin("000000")
            assert wrong.value.tries_left == expected
        with pytest.raises(PinBlocked):
            session.verify_pin("000000")
        with pytest.raises(PinBlocked):
            session.verify_pin("11223344")
        assert session.pin_status().blocked


def test_secrets_never_reach_the_log(make_piv_slot, caplog):
    caplog.set_level("DEBUG")
    slot = make_piv_slot(piv_state(pin_tries_left=0))
    connection, session = open_piv(slot.reader)
    with connection:
        session.unblock(DEFAULT_PUK, "97531864", safety_margin=1)
        session.verify_pin("97531864")
    text = caplog.text
    assert "00 2C 00 80" in text  # the traffic is logged...
    for secret in ("97531864", DEFAULT_PUK, "39 37 35 33", "393735333138363", "31 32 33 34"):
        assert secret not in text  # ...but never the PIN or PUK, in any spelling


def test_card_without_piv_application_is_unsupported(pcscd):
    from sim.vcard.vpcd import VpcdLink
    from tests.conftest import card_present
    from tests.harness.waiting import wait_for

    class NotPiv:
        atr = bytes.fromhex("3B8080010101")

        def power_on(self):
            pass

        power_off = reset = power_on

        def process(self, command):
            return bytes.fromhex("6A82")

    link = VpcdLink(NotPiv(), port=pcscd.slot_port(1))
    link.insert()
    try:
        wait_for(lambda: card_present(pcscd.reader(1)), what="card")
        with PcscConnection(pcscd.reader(1)) as connection, pytest.raises(UnsupportedCard):
            PivSession(ApduProcessor(connection))
    finally:
        link.remove()


def test_extended_length_apdu_reads_a_large_object_in_one_exchange(make_piv_slot):
    from hw.apdu import CommandApdu
    from hw.piv import objects

    slot = make_piv_slot()
    with PcscConnection(slot.reader) as connection:
        processor = ApduProcessor(connection)
        PivSession(processor)
        before = processor.exchanges
        command = CommandApdu(0x00, 0xCB, 0x3F, 0xFF, bytes.fromhex("5C035FC105"), le=65536)
        assert command.extended
        data = processor.send(command)
    assert processor.exchanges - before == 1  # no 61xx chaining needed
    assert len(data) > 256
    assert objects.parse_certificate(objects.unwrap_data_object(data)) is not None
