"""A credential is bound to one unlock's key, opens once, and is handed out once."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.cardservice_errors import CardServiceProblem
from protocol.credential import EnvelopeError, UnlockKey, associated_data, seal
from protocol.login_qr import QrAnimation
from sim.siths_pki import SithsHolder

HOLDER = SithsHolder()


def later() -> dt.datetime:
    """An expiry two minutes from now (computed per use: the suite runs for minutes)."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)


def test_envelope_opens_only_with_its_own_key_and_only_once():
    mine, other = UnlockKey(), UnlockKey()
    aad = associated_data("u1", "9752", "o1", "2030-01-01T00:00:00Z")
    from protocol.credential import public_key_from_b64

    envelope = seal(public_key_from_b64(mine.public_b64), b"12345678", aad)
    with pytest.raises(EnvelopeError):
        other.open(envelope, aad, expires_at=later())
    assert mine.open(envelope, aad, expires_at=later()) == b"12345678"
    with pytest.raises(EnvelopeError, match="already used"):
        mine.open(envelope, aad, expires_at=later())


def test_envelope_bound_to_card_and_login():
    key = UnlockKey()
    from protocol.credential import public_key_from_b64

    aad = associated_data("u1", "9752", "o1", "2030-01-01T00:00:00Z")
    envelope = seal(public_key_from_b64(key.public_b64), b"12345678", aad)
    with pytest.raises(EnvelopeError):
        key.open(
            envelope,
            associated_data("u1", "9999", "o1", "2030-01-01T00:00:00Z"),
            expires_at=later(),
        )


def test_expired_envelope_is_refused():
    key = UnlockKey()
    with pytest.raises(EnvelopeError, match="expired"):
        key.open({}, b"", expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))


@pytest.mark.parametrize(
    "envelope",
    [None, {}, {"alg": "none"}, {"alg": "ECDH-ES+HKDF-SHA256+A256GCM", "nonce": "!!"}],
)
def test_malformed_envelopes_are_typed_errors(envelope):
    with pytest.raises(EnvelopeError):
        UnlockKey().open(envelope, b"aad", expires_at=later())


def approved_login(cardservice):
    client = cardservice.client()
    login = client.start_login(HOLDER.card_number)
    qr = QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret)
    cardservice.scan_and_approve(qr.current(), HOLDER.personal_identity_number)
    return client, login


def test_captured_credential_cannot_be_opened_by_another_unlock(cardservice):
    """Capture the service's raw answer for unlock A; unlock B's key cannot open it."""
    import requests

    cardservice.register(HOLDER)
    _client, login = approved_login(cardservice)
    key_a, key_b = UnlockKey(), UnlockKey()
    session = requests.Session()
    session.trust_env = False
    raw = session.post(
        f"{cardservice.url}/v1/unlocks",
        json={
            "orderRef": login.order_ref,
            "cardNumber": HOLDER.card_number,
            "pinRole": "identification",
            "kioskPublicKey": key_a.public_b64,
        },
        cert=(
            cardservice.pki.kiosk_cert("kiosk-entre-a"),
            cardservice.pki.kiosk_key("kiosk-entre-a"),
        ),
        verify=cardservice.pki.service_ca,
        timeout=10,
    ).json()
    aad = associated_data(raw["unlockId"], HOLDER.card_number, login.order_ref, raw["expiresAt"])
    with pytest.raises(EnvelopeError):
        key_b.open(raw["envelope"], aad, expires_at=later())
    assert key_a.open(raw["envelope"], aad, expires_at=later()) == b"12345678"


def test_one_credential_per_login(cardservice):
    cardservice.register(HOLDER)
    client, login = approved_login(cardservice)
    first = client.request_unlock(
        login.order_ref, HOLDER.card_number, "identification", UnlockKey()
    )
    assert first.secret == b"12345678"
    with pytest.raises(CardServiceProblem) as refused:
        client.request_unlock(login.order_ref, HOLDER.card_number, "identification", UnlockKey())
    assert refused.value.code == "credential-already-issued"


def test_retried_post_with_the_same_idempotency_key_returns_the_same_credential(cardservice):
    import requests

    cardservice.register(HOLDER)
    _client, login = approved_login(cardservice)
    key = UnlockKey()
    session = requests.Session()
    session.trust_env = False
    kwargs = {
        "json": {
            "orderRef": login.order_ref,
            "cardNumber": HOLDER.card_number,
            "pinRole": "identification",
            "kioskPublicKey": key.public_b64,
        },
        "headers": {"Idempotency-Key": "6f1c9a55-34b1-4b53-9d2d-3c1f0d9f1e11"},
        "cert": (
            cardservice.pki.kiosk_cert("kiosk-entre-a"),
            cardservice.pki.kiosk_key("kiosk-entre-a"),
        ),
        "verify": cardservice.pki.service_ca,
        "timeout": 10,
    }
    first = session.post(f"{cardservice.url}/v1/unlocks", **kwargs)
    again = session.post(f"{cardservice.url}/v1/unlocks", **kwargs)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    issued = [r for r in cardservice.store.audit_log() if r["event"].startswith("credential-")]
    assert len(issued) == 1
