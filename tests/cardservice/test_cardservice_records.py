"""What the service records, on SQLite and on PostgreSQL: outcomes and their e-mails, refusals
in the audit log, and a kiosk POST done once per Idempotency-Key.
"""

from __future__ import annotations

import uuid

import pytest
import requests
from sqlalchemy import func, select

from cardservice.housekeeping import KEEP_SENT_MAIL, housekeeping_round
from cardservice.schema import mail_outbox
from kiosk.cardservice_errors import CardServiceProblem, NotCardOwner
from protocol.credential import UnlockKey
from protocol.login_qr import QrAnimation
from protocol.reasons import Outcome, Reason, outcome_text
from sim.siths_pki import SithsHolder
from tests.harness.waiting import wait_for

HOLDER = SithsHolder()
OTHER = "196001019876"


def events(service) -> list[str]:
    return [row["event"] for row in service.store.audit_log()]


def approved_login(service, client, person=HOLDER.personal_identity_number):
    login = client.start_login(HOLDER.card_number)
    qr = QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret)
    service.scan_and_approve(qr.current(), person)
    assert client.poll_login(login.order_ref).status == "complete"
    return login


@pytest.fixture
def service(any_cardservice):
    any_cardservice.register(HOLDER)
    any_cardservice.add_identity(OTHER, "Olle Obehörig", "SE2321000016-X9")
    return any_cardservice


def credential(service, client):
    login = approved_login(service, client)
    return client.request_unlock(login.order_ref, HOLDER.card_number, "identification", UnlockKey())


def test_an_unknown_outcome_turned_final_is_audited_and_mailed_again(service):
    client = service.client()
    unlock = credential(service, client)
    client.report_outcome(unlock.unlock_id, Outcome.UNKNOWN, Reason.CARD_REMOVED)
    first = service.smtp.wait_for(1)[0].get_body().get_content()
    assert outcome_text("en", Outcome.UNKNOWN) in first
    client.report_outcome(unlock.unlock_id, Outcome.UNLOCKED)  # the card was seen again
    second = service.smtp.wait_for(2)[1].get_body().get_content()
    assert "It is now known" in second and outcome_text("en", Outcome.UNLOCKED) in second
    assert events(service)[-2:] == ["outcome-unknown", "outcome-resolved-unlocked"]
    assert service.store.unlock(unlock.unlock_id).outcome == "unlocked"

    client.report_outcome(unlock.unlock_id, Outcome.UNLOCKED)  # the same again: nothing new
    for other in (Outcome.NOT_UNLOCKED, Outcome.UNKNOWN):
        with pytest.raises(CardServiceProblem) as refused:
            client.report_outcome(unlock.unlock_id, other)
        assert refused.value.code == "outcome-already-final" and refused.value.status == 409
    assert events(service)[-1] == "outcome-resolved-unlocked"
    assert len(service.store.unsent_mail()) == 0 and len(service.smtp.messages) == 2


def test_an_outcome_that_never_arrives_is_called_unknown_and_mailed(service):
    client = service.client()
    unlock = credential(service, client)
    assert housekeeping_round(service.service) == 0  # not overdue yet
    service.clock.advance(service.config.outcome_timeout + 1)
    assert housekeeping_round(service.service) == 1
    assert housekeeping_round(service.service) == 0  # once
    assert "outcome-unknown-no-report" in events(service)
    text = service.smtp.wait_for(1)[0].get_body().get_content()
    assert "has not reported what became of the card" in text
    client.report_outcome(unlock.unlock_id, Outcome.NOT_UNLOCKED, Reason.WRONG_PUK)  # it came late
    assert "It is now known" in service.smtp.wait_for(2)[1].get_body().get_content()
    assert service.store.unlock(unlock.unlock_id).outcome == "not-unlocked"


def test_refusals_are_audited_and_counted(service):
    client = service.client()
    for _ in range(3):  # someone else approves on their own phone: an impersonation attempt
        login = approved_login(service, client, person=OTHER)
        with pytest.raises(NotCardOwner):
            client.request_unlock(
                login.order_ref, HOLDER.card_number, "identification", UnlockKey()
            )
    assert events(service).count("refused-not-owner") == 3
    with service.store.reading() as records:
        assert records.attempts_for_card(HOLDER.card_number, 0) == 3
    login = client.start_login(HOLDER.card_number)
    qr = QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret)
    scan = service.phone(
        "/v1/phone/scan",
        {"qrContent": qr.current(), "personalIdentityNumber": HOLDER.personal_identity_number},
    )
    service.phone(
        f"/v1/phone/{scan.json()['orderRef']}/decline",
        {"personalIdentityNumber": HOLDER.personal_identity_number},
    )
    assert client.poll_login(login.order_ref).status == "failed"
    assert events(service)[-1] == "login-declined"
    expiring = client.start_login(HOLDER.card_number)
    service.clock.advance(service.config.login_ttl + 1)
    assert client.poll_login(expiring.order_ref).hint_code == "startFailed"
    assert events(service)[-1] == "login-expired"


def kiosk_post(service, path: str, body: dict, key: str) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    kiosk = service.pki
    return session.post(
        f"{service.url}{path}",
        json=body,
        headers={"Idempotency-Key": key},
        cert=(kiosk.kiosk_cert("kiosk-entre-a"), kiosk.kiosk_key("kiosk-entre-a")),
        verify=kiosk.service_ca,
        timeout=10,
    )


def test_a_repeated_key_gets_the_first_answer_and_another_body_is_refused(service):
    login = approved_login(service, service.client())
    body = {
        "orderRef": login.order_ref,
        "cardNumber": HOLDER.card_number,
        "pinRole": "identification",
        "kioskPublicKey": UnlockKey().public_b64,
    }
    key = str(uuid.uuid4())
    first = kiosk_post(service, "/v1/unlocks", body, key)
    again = kiosk_post(service, "/v1/unlocks", body, key)
    assert first.status_code == again.status_code == 201
    assert first.content == again.content  # the same credential, the same envelope
    assert len(service.store.unlocks()) == 1
    other = kiosk_post(service, "/v1/unlocks", {**body, "pinRole": "signature"}, key)
    assert other.status_code == 422 and other.json()["code"] == "idempotency-key-reused"
    fresh = kiosk_post(service, "/v1/unlocks", body, str(uuid.uuid4()))
    assert fresh.json()["code"] == "credential-already-issued"
    assert events(service).count("credential-issued-puk") == 1


def test_a_sent_email_leaves_the_outbox_after_a_week_and_its_audit_stays(service):
    client = service.client()
    unlock = credential(service, client)
    client.report_outcome(unlock.unlock_id, Outcome.UNLOCKED)
    service.smtp.wait_for(1)
    wait_for(lambda: not service.store.unsent_mail(), what="the e-mail recorded as sent")
    queue_mail = service.store.queue_mail  # one more, never sent: it must stay
    queue_mail(service.clock(), "<unsent@example.org>", "x@example.org", "subject", "body")
    housekeeping_round(service.service)
    assert outbox_size(service) == 2  # sent today: kept for now
    service.clock.advance(KEEP_SENT_MAIL + 1)
    housekeeping_round(service.service)
    assert outbox_size(service) == 1
    assert [m.message_id for m in service.store.unsent_mail()] == ["<unsent@example.org>"]
    assert "outcome-unlocked" in events(service)


def outbox_size(service) -> int:
    with service.store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(mail_outbox)).scalar_one()
