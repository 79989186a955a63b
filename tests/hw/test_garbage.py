"""Garbage from the card gives a typed error, never an unhandled exception.

Property-based (hypothesis). The parsers are pure and are fed bytes directly;
the session is fed through the real stack: a scripted virtual card in pcscd
answers whatever hypothesis draws (random status words, truncated or
malformed TLV, wrong lengths, endless 61xx chains).
"""

from __future__ import annotations

import contextlib
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw import tlv
from hw.apdu import CommandApdu, ResponseApdu, parse_command
from hw.apdu_processor import ApduProcessor
from hw.errors import CardError, TlvError, UnexpectedResponse
from hw.pcsc import PcscConnection
from hw.piv import fascn, objects
from hw.piv.session import PivSession
from sim.vcard.card import make_atr
from sim.vcard.vpcd import VpcdLink
from tests.conftest import card_present
from tests.harness.waiting import wait_for

# -- pure parsers ------------------------------------------------------------


@given(st.binary(max_size=300))
def test_tlv_parser_accepts_or_raises_tlv_error(data):
    try:
        items = tlv.parse_all(data)
    except TlvError:
        return
    # Whatever parsed re-encodes (minimally) to something that parses to the same items,
    # and no byte was skipped: the values and headers account for the whole input.
    assert tlv.parse_all(b"".join(item.encode() for item in items)) == items
    assert sum(len(item.value) for item in items) <= len(data)


@given(st.lists(st.tuples(st.integers(0x01, 0x1E), st.binary(max_size=400)), max_size=6))
def test_tlv_roundtrip(pairs):
    encoded = tlv.encode_all(pairs)
    assert [(i.tag, i.value) for i in tlv.parse_all(encoded)] == pairs


@given(st.binary(max_size=300))
def test_chuid_parser_raises_only_typed_errors(data):
    with pytest.raises(UnexpectedResponse):
        objects.parse_chuid(data)


@given(st.binary(min_size=25, max_size=25))
def test_fascn_decoder_raises_only_typed_errors(data):
    with contextlib.suppress(fascn.FascnError):
        fascn.decode(data)


@given(
    st.text("0123456789", min_size=4, max_size=4),
    st.text("0123456789", min_size=6, max_size=6),
)
def test_fascn_roundtrip(agency, credential):
    value = fascn.Fascn(agency_code=agency, system_code="0001", credential_number=credential)
    assert fascn.decode(fascn.encode(value)) == value


@given(st.binary(max_size=600), st.sampled_from([b"\x00", b"\x01", b"\x02", b"", b"\x01\x01"]))
def test_certificate_parser_raises_only_typed_errors(payload, info):
    content = tlv.encode_tlv(0x70, payload) + tlv.encode_tlv(0x71, info)
    with pytest.raises(UnexpectedResponse):
        objects.parse_certificate(content)


@given(st.binary(max_size=3))
def test_response_shorter_than_a_status_word_is_typed(raw):
    with pytest.raises(UnexpectedResponse):
        ResponseApdu.parse(raw[:1])


@given(
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=600),
    st.one_of(st.none(), st.integers(1, 65536)),
)
def test_command_encoding_roundtrip(ins, p1, data, le):
    command = CommandApdu(0x00, ins, p1, 0x00, data, le)
    assert parse_command(command.encode()) == command


# -- the real stack with a card that answers garbage ---------------------------


class ScriptedCard:
    """A card whose answers are set by the test; beyond the script it answers 6F00."""

    atr = make_atr(b"GARBAGE")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: list[bytes] = []

    def script(self, answers: list[bytes]) -> None:
        with self._lock:
            self._answers = list(answers)

    def power_on(self) -> None:
        pass

    power_off = reset = power_on

    def process(self, command: bytes) -> bytes:
        with self._lock:
            return self._answers.pop(0) if self._answers else b"\x6f\x00"


@pytest.fixture(scope="module")
def garbage_slot(pcscd):
    card = ScriptedCard()
    link = VpcdLink(card, port=pcscd.slot_port(1))
    link.insert()
    wait_for(lambda: card_present(pcscd.reader(1)), what="the scripted card")
    yield card, pcscd.reader(1)
    link.remove()


status_words = st.one_of(
    st.sampled_from([0x9000, 0x6A82, 0x6983, 0x63C0, 0x63C2, 0x6700, 0x6100, 0x6110, 0x6C08]),
    st.integers(0, 0xFFFF),
)
tlv_like = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda n, v: bytes([0x53, n]) + v, st.integers(0, 255), st.binary(max_size=30)),
    st.builds(lambda v: tlv.encode_tlv(0x53, v), st.binary(max_size=300)),
    st.just(bytes.fromhex("5382FFFF")),
)
answers = st.lists(
    st.one_of(
        st.builds(lambda d, sw: d + sw.to_bytes(2, "big"), tlv_like, status_words),
        st.binary(min_size=1, max_size=4),
    ),
    max_size=8,
)


@pytest.mark.pcsc
@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=answers)
def test_session_on_a_garbage_card_raises_only_typed_errors(garbage_slot, script):
    card, reader = garbage_slot
    card.script([bytes.fromhex("9000"), *script])  # the SELECT succeeds, then garbage
    # A short settle time: the card stays in, so "did it leave?" waits are pure delay here.
    with PcscConnection(reader, removal_settle_ms=20) as connection:
        try:
            session = PivSession(ApduProcessor(connection))
            session.read_chuid()
            session.read_certificate()
            session.pin_statuses()
            session.unblock("12345678", "246810", safety_margin=0)
        except CardError:
            pass


@pytest.mark.pcsc
def test_wrong_le_is_resent_with_the_length_the_card_asks_for(garbage_slot):
    card, reader = garbage_slot
    card.script([bytes.fromhex("6C05"), bytes.fromhex("01020304059000")])
    with PcscConnection(reader) as connection:
        processor = ApduProcessor(connection)
        data = processor.send(CommandApdu(0x00, 0xCA, 0x00, 0x6E, le=256))
    assert data == bytes.fromhex("0102030405")
    assert processor.exchanges == 2


@pytest.mark.pcsc
def test_endless_more_data_chain_is_cut_off(garbage_slot):
    card, reader = garbage_slot
    card.script([bytes(255) + b"\x61\x00"] * 400)
    with PcscConnection(reader) as connection:
        processor = ApduProcessor(connection)
        with pytest.raises(UnexpectedResponse):
            processor.send(CommandApdu(0x00, 0xCB, 0x3F, 0xFF, b"\x5c\x01\x7e", le=256))
    card.script([])
