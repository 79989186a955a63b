"""A credential is bound to one kiosk, login, card, unlock and expiry; opens once."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from hypothesis import given
from hypothesis import strategies as st

from kiosk.cardservice_errors import CardServiceProblem, CardServiceProtocolError
from protocol import cardservice_api as api
from protocol.credential import (
    EnvelopeBinding,
    EnvelopeError,
    UnlockKey,
    b64,
    public_key_from_b64,
    seal,
)
from protocol.login_qr import QrAnimation
from sim.siths_pki import SithsHolder
from tests.harness.cardservice import KIOSK_ID

HOLDER = SithsHolder()
PUK = b"12345678"
EXPIRES_AT = "2030-01-01T12:00:00Z"
BEFORE_EXPIRY = dt.datetime(2030, 1, 1, 11, 58, tzinfo=dt.UTC)
BINDING = EnvelopeBinding(
    kiosk_id="kiosk-entre-a",
    order_ref="6a1f0c1e-order",
    card_number="9752269885719985027",
    unlock_id="0b7e3c55-unlock",
    expires_at=EXPIRES_AT,
)


def sealed_for(key: UnlockKey, plaintext: bytes = PUK, binding: EnvelopeBinding = BINDING) -> bytes:
    """What the card service does: seal to the kiosk's public key as it was sent."""
    return seal(public_key_from_b64(key.public_b64), plaintext, binding)


def test_round_trip():
    key = UnlockKey()
    assert key.open(sealed_for(key), BINDING, now=BEFORE_EXPIRY) == PUK
    assert key.used


def test_the_wire_envelope_carries_hpke_enc_and_ciphertext():
    key = UnlockKey()
    envelope = api.Envelope.from_sealed(sealed_for(key))
    wire = api.to_wire(envelope)
    assert wire["alg"] == "HPKE-Base-P256-SHA256-A256GCM"
    parsed = api.from_wire(api.Envelope, wire)
    assert len(parsed.enc) == 65 and parsed.enc[0] == 0x04  # uncompressed P-256 point
    assert key.open(parsed.sealed(), BINDING, now=BEFORE_EXPIRY) == PUK


def test_tampered_ciphertext_does_not_open():
    key = UnlockKey()
    sealed = bytearray(sealed_for(key))
    sealed[-1] ^= 0x01
    with pytest.raises(EnvelopeError, match="does not open"):
        key.open(bytes(sealed), BINDING, now=BEFORE_EXPIRY)


@pytest.mark.parametrize(
    "changed",
    [
        {"kiosk_id": "kiosk-entre-b"},
        {"order_ref": "another-login"},
        {"card_number": "9752269885719985028"},
        {"unlock_id": "another-unlock"},
        {"expires_at": "2030-01-01T12:00:01Z"},
        {"expires_at": "2030-01-01T12:00:00+00:00"},  # the same instant, not the text sent
    ],
    ids=["kiosk", "login", "card", "unlock", "expiry", "expiry-spelling"],
)
def test_an_envelope_for_anything_else_does_not_open(changed):
    key = UnlockKey()
    sealed = sealed_for(key)
    with pytest.raises(EnvelopeError, match="does not open"):
        key.open(sealed, dataclasses.replace(BINDING, **changed), now=BEFORE_EXPIRY)


def test_another_unlocks_key_cannot_open_it():
    mine, other = UnlockKey(), UnlockKey()
    with pytest.raises(EnvelopeError, match="does not open"):
        other.open(sealed_for(mine), BINDING, now=BEFORE_EXPIRY)


def test_a_key_opens_once_and_is_gone_even_after_a_failed_attempt():
    key = UnlockKey()
    sealed = sealed_for(key)
    assert key.open(sealed, BINDING, now=BEFORE_EXPIRY) == PUK
    with pytest.raises(EnvelopeError, match="already used"):
        key.open(sealed, BINDING, now=BEFORE_EXPIRY)

    unlucky = UnlockKey()
    sealed = sealed_for(unlucky)
    with pytest.raises(EnvelopeError, match="does not open"):
        unlucky.open(sealed, dataclasses.replace(BINDING, unlock_id="wrong"), now=BEFORE_EXPIRY)
    with pytest.raises(EnvelopeError, match="already used"):
        unlucky.open(sealed, BINDING, now=BEFORE_EXPIRY)


def test_an_expired_envelope_is_refused_and_spends_the_key():
    key = UnlockKey()
    sealed = sealed_for(key)
    at_expiry = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
    with pytest.raises(EnvelopeError, match="expired"):
        key.open(sealed, BINDING, now=at_expiry)
    with pytest.raises(EnvelopeError, match="already used"):
        key.open(sealed, BINDING, now=BEFORE_EXPIRY)


def test_an_expiry_that_is_not_a_time_is_refused():
    key = UnlockKey()
    binding = dataclasses.replace(BINDING, expires_at="soon")
    with pytest.raises(EnvelopeError, match="RFC 3339"):
        key.open(seal(public_key_from_b64(key.public_b64), PUK, binding), binding)


def test_a_discarded_key_opens_nothing():
    key = UnlockKey()
    sealed = sealed_for(key)
    key.discard()
    with pytest.raises(EnvelopeError, match="already used"):
        key.open(sealed, BINDING, now=BEFORE_EXPIRY)


@pytest.mark.parametrize(
    "sealed", [b"", b"\x04" + bytes(64), bytes(65 + 16), b"not an envelope at all"]
)
def test_malformed_envelopes_are_typed_errors(sealed):
    with pytest.raises(EnvelopeError):
        UnlockKey().open(sealed, BINDING, now=BEFORE_EXPIRY)


def test_an_envelope_of_another_suite_does_not_open():
    key = UnlockKey()
    other_suite = Suite(KEM.P256, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
    recipient = public_key_from_b64(key.public_b64)
    sealed = other_suite.encrypt(PUK, recipient, info=BINDING.info())
    with pytest.raises(EnvelopeError, match="does not open"):
        key.open(sealed, BINDING, now=BEFORE_EXPIRY)


def spki_b64(public_key: object) -> str:
    return b64(
        public_key.public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@pytest.mark.parametrize("kind", ["p384", "rsa"])
def test_a_key_of_the_wrong_kind_is_refused(kind):
    if kind == "p384":
        wrong = ec.generate_private_key(ec.SECP384R1()).public_key()
    else:
        wrong = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(ValueError, match="P-256"):
        public_key_from_b64(spki_b64(wrong))
    with pytest.raises(ValueError, match="P-256"):
        seal(wrong, PUK, BINDING)  # type: ignore[arg-type]


def test_envelope_errors_and_reprs_never_carry_the_secret():
    key = UnlockKey()
    sealed = sealed_for(key)
    with pytest.raises(EnvelopeError) as refused:
        key.open(sealed, dataclasses.replace(BINDING, card_number="0"), now=BEFORE_EXPIRY)
    for text in (str(refused.value), repr(refused.value), repr(key)):
        assert "12345678" not in text and b64(sealed) not in text


text = st.text(max_size=12)


@given(a=st.tuples(text, text, text, text, text), b=st.tuples(text, text, text, text, text))
def test_info_is_unambiguous(a, b):
    """Two different bindings never give the same info, however their texts split."""
    if a != b:
        assert EnvelopeBinding(*a).info() != EnvelopeBinding(*b).info()


# -- against the reference card service over HTTPS ----------------------------------------


def approved_login(cardservice):
    client = cardservice.client()
    login = client.start_login(HOLDER.card_number)
    qr = QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret)
    cardservice.scan_and_approve(qr.current(), HOLDER.personal_identity_number)
    return client, login


def raw_unlock(cardservice, body: dict, **extra: object) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    return session.post(
        f"{cardservice.url}/v1/unlocks",
        json=body,
        cert=(cardservice.pki.kiosk_cert(KIOSK_ID), cardservice.pki.kiosk_key(KIOSK_ID)),
        verify=cardservice.pki.service_ca,
        timeout=10,
        **extra,
    )


def unlock_body(login, key: UnlockKey) -> dict:
    return {
        "orderRef": login.order_ref,
        "cardNumber": HOLDER.card_number,
        "pinRole": "identification",
        "kioskPublicKey": key.public_b64,
    }


def test_captured_credential_opens_only_for_its_kiosk_and_unlock(cardservice):
    """Capture the service's raw answer for unlock A; only A's key with A's binding opens it."""
    cardservice.register(HOLDER)
    _client, login = approved_login(cardservice)
    key_a, key_b = UnlockKey(), UnlockKey()
    raw = raw_unlock(cardservice, unlock_body(login, key_a)).json()
    sealed = api.from_wire(api.Envelope, raw["envelope"]).sealed()
    binding = EnvelopeBinding(
        KIOSK_ID, login.order_ref, HOLDER.card_number, raw["unlockId"], raw["expiresAt"]
    )
    with pytest.raises(EnvelopeError):
        key_b.open(sealed, binding)
    assert key_a.open(sealed, binding) == PUK


def test_a_kiosk_configured_with_another_id_cannot_open_its_credential(cardservice):
    """The envelope is bound to the certificate's common name, not to what a kiosk claims."""
    cardservice.register(HOLDER)
    _client, login = approved_login(cardservice)
    claims_another_id = cardservice.client()
    claims_another_id.kiosk_id = "kiosk-entre-b"
    key = UnlockKey()
    with pytest.raises(CardServiceProtocolError, match="unusable"):
        claims_another_id.request_unlock(login.order_ref, HOLDER.card_number, "identification", key)
    assert key.used


def test_the_service_refuses_a_kiosk_key_that_is_not_p256(cardservice):
    cardservice.register(HOLDER)
    _client, login = approved_login(cardservice)
    body = unlock_body(login, UnlockKey())
    body["kioskPublicKey"] = spki_b64(ec.generate_private_key(ec.SECP384R1()).public_key())
    answer = raw_unlock(cardservice, body)
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid-request"
    assert "kioskPublicKey" in answer.json()["detail"]
    issued = [r for r in cardservice.store.audit_log() if r["event"].startswith("credential-")]
    assert issued == []


def test_one_credential_per_login(cardservice):
    cardservice.register(HOLDER)
    client, login = approved_login(cardservice)
    first = client.request_unlock(
        login.order_ref, HOLDER.card_number, "identification", UnlockKey()
    )
    assert first.secret == PUK
    assert "12345678" not in repr(first)
    with pytest.raises(CardServiceProblem) as refused:
        client.request_unlock(login.order_ref, HOLDER.card_number, "identification", UnlockKey())
    assert refused.value.code == "credential-already-issued"


def test_retried_post_with_the_same_idempotency_key_returns_the_same_credential(cardservice):
    cardservice.register(HOLDER)
    _client, login = approved_login(cardservice)
    body = unlock_body(login, UnlockKey())
    key_header = {"headers": {"Idempotency-Key": "6f1c9a55-34b1-4b53-9d2d-3c1f0d9f1e11"}}
    first = raw_unlock(cardservice, body, **key_header)
    again = raw_unlock(cardservice, body, **key_header)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    issued = [r for r in cardservice.store.audit_log() if r["event"].startswith("credential-")]
    assert len(issued) == 1
