"""Extended-length reads only where the card says it takes them; short reads everywhere else.

What the ATR says is parsed without a card; what a card answers is tried on the
real PC/SC stack with the virtual SITHS card: one that takes extended length,
one whose ATR says it does not (it is never sent one), and one that says nothing
and refuses the first (it is asked once, and read in short pieces after).
"""

from __future__ import annotations

import pytest

from hw.extended_length import (
    announced_extended_length,
    historical_bytes,
    initial_extended_length,
)
from hw.pcsc import PcscConnection
from hw.profiles import open_session
from hw.siths.card_info import SithsCardInfo
from hw.siths.session import SithsSession
from sim.vcard.apdu_log import ApduLog, LoggedCommand
from sim.vcard.card import make_atr
from sim.vcard.card_os import VARIANTS, CardOs
from sim.vcard.siths_card import SithsCardState, VirtualSithsCard

#: A YubiKey 5's ATR: compact-TLV historical bytes, card capabilities 73 C0 21 C0.
YUBIKEY_ATR = bytes.fromhex("3BFD1300008131FE158073C021C057597562694B657940")
INS_READ_BINARY = 0xB0


def test_the_atr_says_yes_no_or_nothing():
    assert historical_bytes(YUBIKEY_ATR) == bytes.fromhex("8073C021C057597562694B6579")
    assert announced_extended_length(YUBIKEY_ATR) is True
    says_no = make_atr(bytes.fromhex("8073000000") + b"\x58SITHSeID")
    assert announced_extended_length(says_no) is False
    with_status_last = make_atr(bytes.fromhex("0073000040059000"))
    assert announced_extended_length(with_status_last) is True
    assert announced_extended_length(make_atr(b"SITHSeID")) is None  # proprietary bytes
    assert announced_extended_length(make_atr(bytes.fromhex("807200"))) is None  # 2 bytes only


@pytest.mark.parametrize(
    "atr",
    [b"", b"\x3b", bytes.fromhex("3BFF"), bytes.fromhex("3B8F8001"), bytes.fromhex("3B88800180")],
)
def test_a_truncated_atr_says_nothing(atr):
    assert announced_extended_length(atr) is None


def test_a_t0_link_carries_no_extended_length_whatever_the_atr_says():
    assert initial_extended_length(YUBIKEY_ATR, link_carries_extended=False) is False
    assert initial_extended_length(YUBIKEY_ATR, link_carries_extended=True) is True


def read_card(make_slot, certificates, card_os: CardOs) -> list[LoggedCommand]:
    """The directory and both certificates read; every command the card got."""
    holder, certs = certificates
    state = SithsCardState.issue(holder, None, certificates=certs, card_os=card_os)
    log = ApduLog(VirtualSithsCard(state))
    slot = make_slot(log)

    def read() -> SithsCardInfo:
        session = open_session(connection)
        assert isinstance(session, SithsSession)
        return session.card_info(None)

    with PcscConnection(slot.reader) as connection:
        info = connection.in_transaction(read)
    assert info.card_number == holder.card_number and info.problems == []
    return log.commands


def reads(commands: list[LoggedCommand]) -> list[LoggedCommand]:
    return [c for c in commands if c.ins == INS_READ_BINARY]


@pytest.mark.pcsc
def test_a_card_that_takes_extended_length_gets_each_certificate_in_one_read(
    make_slot, standard_siths_certificates
):
    commands = read_card(make_slot, standard_siths_certificates, VARIANTS["reference"])
    long_reads = [c for c in reads(commands) if c.extended]
    assert len(long_reads) == 2 and all(c.sw == 0x9000 for c in long_reads)
    assert len(reads(commands)) == 6  # ODF, AODF, CDF, PrKDF, two certificates


@pytest.mark.pcsc
def test_a_card_whose_atr_says_no_is_never_sent_an_extended_length(
    make_slot, standard_siths_certificates
):
    says_no = CardOs(announces_capabilities=True, extended_apdus=False)
    commands = read_card(make_slot, standard_siths_certificates, says_no)
    assert not any(c.extended for c in commands)
    assert all(c.le is None or c.le <= 256 for c in reads(commands))


@pytest.mark.pcsc
def test_a_card_that_refuses_extended_length_is_asked_once_and_read_in_short_pieces(
    make_slot, standard_siths_certificates
):
    commands = read_card(make_slot, standard_siths_certificates, VARIANTS["no-extended-length"])
    refused = [c for c in commands if c.extended]
    assert [c.sw for c in refused] == [0x6700]
    assert all(c.sw == 0x9000 for c in reads(commands) if not c.extended)
