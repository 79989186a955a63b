"""Malformed PKCS#15 structures and certificates give a typed error (property-based)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw.apdu_processor import ApduProcessor
from hw.errors import CardError, MalformedCardData
from hw.pcsc import PcscConnection
from hw.pkcs15 import model
from hw.siths.session import SithsSession
from hw.siths.trust import TrustStore
from sim.siths_pki import SithsHolder
from sim.vcard.siths_card import SithsCardState, VirtualSithsCard, pkcs15_tree
from sim.vcard.vpcd import VpcdLink
from tests.conftest import card_present
from tests.harness.waiting import wait_for

PARSERS = [
    model.parse_odf,
    model.parse_aodf,
    model.parse_cdf,
    model.parse_prkdf,
    model.parse_token_info,
    model.parse_dir,
]


def valid_structures() -> dict:
    """One well-formed example of each structure, from the virtual card's builder."""
    tree = pkcs15_tree(None, None, serial=b"1234")
    app = tree.children[0x5015]
    return {
        model.parse_odf: app.children[0x5031].data,
        model.parse_aodf: app.children[0x4403].data,
        model.parse_token_info: app.children[0x5032].data,
        model.parse_dir: tree.children[0x2F00].data,
    }


VALID = valid_structures()


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__name__)
@given(data=st.binary(max_size=200))
def test_random_bytes_give_only_pkcs15_errors(parse, data):
    with contextlib.suppress(model.Pkcs15Error):
        parse(data)


@pytest.mark.parametrize("parse", list(VALID), ids=lambda p: p.__name__)
@given(data=st.data())
def test_mutated_structures_give_only_typed_card_data_errors(parse, data):
    original = bytearray(VALID[parse])
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(original) - 1))
        original[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(original)))
    with contextlib.suppress(MalformedCardData):  # Pkcs15Error, or a PIN reference of 300
        parse(bytes(original[:cut]))


@given(value=st.text(max_size=12))
def test_pin_encoding_rejects_or_fits_the_stored_length(value):
    pin = model.parse_aodf(VALID[model.parse_aodf])[0]
    try:
        encoded = pin.encode(value)
    except CardError:
        return
    assert len(encoded) == pin.stored_length


# -- through the real stack ----------------------------------------------------------


@pytest.fixture(scope="module")
def siths_garbage_slot(pcscd, standard_siths_certificates, siths_pki):
    holder, certificates = standard_siths_certificates
    state = SithsCardState.issue(holder, siths_pki, certificates=certificates)
    card = VirtualSithsCard(state)
    link = VpcdLink(card, port=pcscd.slot_port(1))
    link.insert()
    wait_for(lambda: card_present(pcscd.reader(1)), what="the SITHS card")
    yield card, pcscd.reader(1)
    link.remove()


FILES = {"ODF": 0x5031, "AODF": 0x4403, "CDF": 0x4402, "PrKDF": 0x4401, "certificate": 0x4301}


@pytest.mark.pcsc
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(which=st.sampled_from(sorted(FILES)), data=st.data())
def test_session_on_a_card_with_a_garbled_file_raises_only_typed_errors(
    siths_garbage_slot, trust, which, data
):
    card, reader = siths_garbage_slot
    app = card.state.files.children[0x5015]
    ef = app.children[FILES[which]]
    original = ef.data
    garbled = bytearray(original)
    for _ in range(data.draw(st.integers(1, 6))):
        garbled[data.draw(st.integers(0, len(garbled) - 1))] = data.draw(st.integers(0, 255))
    ef.data = bytes(garbled[: data.draw(st.integers(0, len(garbled)))])
    try:
        with PcscConnection(reader) as connection:
            session = SithsSession(ApduProcessor(connection))
            session.pin_statuses()
            session.card_info(trust)
    except CardError:
        pass
    finally:
        ef.data = original


def test_holder_fields_survive_unusual_names(siths_pki, trust):
    from hw.siths.certificates import CertificateRole, describe

    holder = SithsHolder(given_name="Åsa", surname="Öberg-Ääkkönen", organisation="Region Skåne")
    certificate, _ = siths_pki.issue(holder, CertificateRole.IDENTIFICATION)
    facts = describe(certificate)
    assert facts.holder_name == "Åsa Öberg-Ääkkönen"
    assert facts.organisation == "Region Skåne"
    assert trust.problems(facts) == []


def test_empty_trust_store_is_a_configuration_error():
    with pytest.raises(ValueError, match="at least one root"):
        TrustStore([])
