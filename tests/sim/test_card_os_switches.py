"""Each card-system switch of the virtual SITHS card does what docs/card-profiles.md says.

The card is driven through its ``process`` (raw APDUs in and out), no reader needed.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from hw.extended_length import announced_extended_length
from hw.pins import pad_reference
from sim.vcard.card_os import VARIANTS
from sim.vcard.siths_card import SithsCardState, VirtualSithsCard

SELECT_APP = bytes.fromhex("00A4040C0CA000000063504B43532D3135")
SELECT_MF = bytes.fromhex("00A40000023F00")
SELECT_ODF_FCP = bytes.fromhex("00A40804063F005015503100")
EMPTY_VERIFY_PUK = bytes.fromhex("00200083")
EMPTY_VERIFY_PIN = bytes.fromhex("00200081")
GET_RESPONSE = bytes.fromhex("00C0000000")


@pytest.fixture(scope="module")
def certificates(standard_siths_certificates):
    return standard_siths_certificates


def card(variant: str, certificates) -> VirtualSithsCard:
    holder, certs = certificates
    state = SithsCardState.issue(holder, None, certificates=certs, card_os=VARIANTS[variant])
    virtual = VirtualSithsCard(state)
    virtual.power_on()
    return virtual


def sw(answer: bytes) -> str:
    return answer[-2:].hex().upper()


def test_local_pin_references_need_the_application_selected(certificates):
    local = card("local-pin-references", certificates)
    local.process(SELECT_APP)
    assert sw(local.process(EMPTY_VERIFY_PIN)) == "63C3"
    local.process(SELECT_MF)
    assert sw(local.process(EMPTY_VERIFY_PIN)) == "6A88"
    reference = card("reference", certificates)
    reference.process(SELECT_MF)
    assert sw(reference.process(EMPTY_VERIFY_PIN)) == "63C3"


def test_puk_answering_6a88_to_the_empty_verify(certificates):
    assert sw(card("puk-answers-6a88", certificates).process(EMPTY_VERIFY_PUK)) == "6A88"
    assert sw(card("reference", certificates).process(EMPTY_VERIFY_PUK)) == "63CA"


def test_puk_left_verified_after_a_reset(certificates):
    data = pad_reference("12345678") + pad_reference("48291573")
    reset = bytes.fromhex("002C008110") + data
    for variant, after in (("puk-verified-after-reset", "9000"), ("reference", "63CA")):
        virtual = card(variant, certificates)
        assert sw(virtual.process(reset)) == "9000"
        assert sw(virtual.process(EMPTY_VERIFY_PUK)) == after


def test_answers_through_get_response_or_only_in_one_piece(certificates):
    t0 = card("t0-get-response", certificates)
    first = t0.process(SELECT_ODF_FCP)
    assert first[:1] == b"\x61" and len(first) == 2
    assert sw(t0.process(GET_RESPONSE[:-1] + first[1:2])) == "9000"
    extended = card("extended-length", certificates)
    assert sw(extended.process(GET_RESPONSE)) == "6D00"
    assert sw(card("reference", certificates).process(SELECT_ODF_FCP)) == "9000"


def test_extended_length_taken_refused_or_announced(certificates):
    size = len(certificates[1][0].public_bytes(serialization.Encoding.DER))
    select_certificate = bytes.fromhex("00A4080C063F0050154301")
    extended_read = bytes.fromhex("00B0000000") + size.to_bytes(2, "big")  # the whole of it
    answers = {}
    for variant in ("reference", "no-extended-length", "t0-get-response", "extended-length"):
        virtual = card(variant, certificates)
        virtual.process(select_certificate)
        answer = virtual.process(extended_read)
        answers[variant] = (sw(answer), len(answer) - 2)
    assert answers == {
        "reference": ("9000", size),
        "no-extended-length": ("6700", 0),
        "t0-get-response": ("6700", 0),
        "extended-length": ("9000", size),
    }
    said = {v: announced_extended_length(card(v, certificates).atr) for v in answers}
    assert said == {
        "reference": None,
        "no-extended-length": None,
        "t0-get-response": None,
        "extended-length": True,
    }
