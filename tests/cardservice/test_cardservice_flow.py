"""The whole unlock over real HTTPS with mutual TLS, a virtual SITHS card in real pcscd,
and the holder's e-mail caught by a real SMTP server.
"""

from __future__ import annotations

import pytest

from hw.pcsc import PcscConnection
from hw.profiles import open_session
from hw.siths.session import SithsSession
from protocol.credential import UnlockKey
from protocol.login_qr import QrAnimation
from protocol.reasons import Outcome, Reason, outcome_text
from sim.siths_pki import SithsHolder
from sim.vcard.siths_card import IDENTIFICATION_PIN_LABEL, SIGNATURE_PIN_LABEL
from tests.harness.cardservice import KIOSK_LOCATION

pytestmark = pytest.mark.pcsc

ADMIN_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")


def login_and_approve(cardservice, client, holder, approver=None) -> str:
    start = client.start_login(holder.card_number)
    assert client.poll_login(start.order_ref).hint_code == "outstandingTransaction"
    qr = QrAnimation(start.qr_prefix, start.qr_start_token, start.qr_start_secret)
    cardservice.scan_and_approve(qr.current(), approver or holder.personal_identity_number)
    status = client.poll_login(start.order_ref)
    assert status.status == "complete"
    return start.order_ref


def test_unlock_with_puk_end_to_end(cardservice, make_siths_slot, standard_siths_certificates):
    holder, _ = standard_siths_certificates
    cardservice.register(holder, mechanism="puk", secret=b"12345678")
    slot = make_siths_slot(identification_tries_left=0)
    client = cardservice.client()
    with PcscConnection(slot.reader) as connection:
        session = open_session(connection)
        assert isinstance(session, SithsSession)
        order_ref = login_and_approve(cardservice, client, holder)
        credential = client.request_unlock(
            order_ref, holder.card_number, "identification", UnlockKey()
        )
        assert credential.mechanism == "puk"
        session.unblock_pin(
            IDENTIFICATION_PIN_LABEL, credential.secret.decode(), "24681357", safety_margin=3
        )
        session.verify(IDENTIFICATION_PIN_LABEL, "24681357")
        client.report_outcome(credential.unlock_id, "unlocked")
    mail = cardservice.smtp.wait_for(1)[0]
    text = mail.get_body().get_content()
    assert mail["To"] == holder.email
    assert holder.card_number in mail["Subject"]
    assert holder.card_number in text and KIOSK_LOCATION in text
    assert "kontakta din lokala support" in text and "contact your local support" in text
    assert "24681357" not in text and "12345678" not in text
    events = [row["event"] for row in cardservice.store.audit_log()]
    assert events[:1] == ["login-started"] and "outcome-unlocked" in events


def test_unlock_with_admin_key_end_to_end(cardservice, make_siths_slot, siths_pki):
    holder = SithsHolder(card_number="9752000000000000123", personal_identity_number="199001012384")
    cardservice.register(holder, mechanism="admin-key", secret=ADMIN_KEY)
    slot = make_siths_slot(holder=holder, signature_tries_left=0, admin_key=ADMIN_KEY)
    client = cardservice.client()
    with PcscConnection(slot.reader) as connection:
        session = open_session(connection)
        order_ref = login_and_approve(cardservice, client, holder)
        issued = []

        def from_card_service(challenge: bytes) -> bytes:
            credential = client.request_unlock(
                order_ref, holder.card_number, "signature", UnlockKey(), challenge
            )
            issued.append(credential)
            return credential.secret

        session.unblock_pin_with_admin_key(
            SIGNATURE_PIN_LABEL, "97531864", from_card_service, safety_margin=3
        )
        session.verify(SIGNATURE_PIN_LABEL, "97531864")
        client.report_outcome(issued[0].unlock_id, "unlocked")
    assert issued[0].mechanism == "admin-key"
    assert "9752000000000000123" in cardservice.smtp.wait_for(1)[0]["Subject"]


def test_failed_attempt_is_mailed_too(cardservice, make_siths_slot, standard_siths_certificates):
    holder, _ = standard_siths_certificates
    cardservice.register(holder, secret=b"12345678")
    client = cardservice.client()
    order_ref = login_and_approve(cardservice, client, holder)
    credential = client.request_unlock(order_ref, holder.card_number, "identification", UnlockKey())
    client.report_outcome(credential.unlock_id, Outcome.UNKNOWN, Reason.CARD_REMOVED)
    text = cardservice.smtp.wait_for(1)[0].get_body().get_content()
    # Pulled mid-unblock: the holder is told it is not known yet, not that it failed.
    assert outcome_text("sv", Outcome.UNKNOWN) in text
    assert outcome_text("en", Outcome.UNKNOWN) in text


def test_state_survives_a_restart(cardservice, dev_pki, smtp_sink, standard_siths_certificates):
    from tests.harness.cardservice import CardServiceHarness

    holder, _ = standard_siths_certificates
    cardservice.register(holder)
    start = cardservice.client().start_login(holder.card_number)
    cardservice.stop()
    # The provider keeps its orders across the card service's restart, as a real one does.
    again = CardServiceHarness(
        cardservice.state_dir, dev_pki, smtp_sink, cardservice.config, orders=cardservice.idp
    )
    try:
        status = again.client().poll_login(start.order_ref)
        assert (status.status, status.hint_code) == ("pending", "outstandingTransaction")
        assert again.store.card(holder.card_number) is not None
    finally:
        again.stop()
        cardservice.stop = lambda: None  # already stopped
