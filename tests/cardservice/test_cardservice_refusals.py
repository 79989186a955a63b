"""Each refusal has its own problem code, and no credential is released."""

from __future__ import annotations

import pytest
import requests

from kiosk.cardservice_errors import (
    CardNotRegistered,
    CardServiceProblem,
    CardServiceUnreachable,
    KioskNotAccepted,
    LoginExpired,
    NeedsIdAdministrator,
    NotCardOwner,
    ServiceInMaintenance,
    TooManyAttempts,
)
from protocol.credential import UnlockKey
from protocol.login_qr import QrAnimation, qr_content
from sim.siths_pki import SithsHolder

HOLDER = SithsHolder()
OTHER = "196001019876"


def start(cardservice, client=None):
    client = client or cardservice.client()
    login = client.start_login(HOLDER.card_number)
    return client, login, QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret)


def no_credential_issued(cardservice) -> bool:
    events = [row["event"] for row in cardservice.store.audit_log()]
    return not any(event.startswith("credential-issued") for event in events)


@pytest.fixture
def registered(cardservice):
    cardservice.register(HOLDER)
    cardservice.add_identity(OTHER, "Olle Obehörig", "SE2321000016-X9")
    return cardservice


def test_kiosk_without_a_client_certificate(registered):
    client = registered.client(kiosk_id=None)
    with pytest.raises(KioskNotAccepted) as refused:
        client.start_login(HOLDER.card_number)
    assert refused.value.code == "client-certificate-required"
    assert refused.value.status == 401


def test_kiosk_with_a_certificate_from_another_ca_is_refused_at_tls(registered, tmp_path):
    from kiosk.cardservice_client import CardServiceClient
    from sim.dev_pki import write_dev_pki

    rogue = write_dev_pki(tmp_path / "rogue", ["kiosk-entre-a"])
    client = CardServiceClient(
        registered.url,
        kiosk_id="kiosk-entre-a",
        client_cert=(rogue.kiosk_cert("kiosk-entre-a"), rogue.kiosk_key("kiosk-entre-a")),
        ca_file=registered.pki.service_ca,
        retries=0,
    )
    with pytest.raises(CardServiceUnreachable):
        client.start_login(HOLDER.card_number)
    assert no_credential_issued(registered)


def test_unregistered_kiosk(registered):
    with pytest.raises(KioskNotAccepted) as refused:
        registered.client(kiosk_id="kiosk-unknown").start_login(HOLDER.card_number)
    assert refused.value.code == "unknown-kiosk"


def test_card_not_registered(registered):
    with pytest.raises(CardNotRegistered):
        registered.client().start_login("9752999999999999999")


def test_login_approved_by_someone_who_does_not_own_the_card(registered):
    client, login, qr = start(registered)
    registered.scan_and_approve(qr.current(), OTHER)
    assert client.poll_login(login.order_ref).status == "complete"
    with pytest.raises(NotCardOwner):
        client.request_unlock(login.order_ref, HOLDER.card_number, "identification", UnlockKey())
    assert no_credential_issued(registered)


def test_qr_frame_too_old(registered):
    _client, login, _qr = start(registered)
    old_frame = qr_content(login.qr_prefix, login.qr_start_token, login.qr_start_secret, 0)
    registered.clock.advance(20)  # the photo is 20 s old by the time it is scanned
    scan = registered.phone(
        "/v1/phone/scan",
        {"qrContent": old_frame, "personalIdentityNumber": HOLDER.personal_identity_number},
    )
    assert scan.status_code == 400 and scan.json()["code"] == "qr-stale"


def test_qr_frame_with_wrong_hmac(registered):
    _client, login, _qr = start(registered)
    forged = qr_content(login.qr_prefix, login.qr_start_token, "not-the-secret", 0)
    scan = registered.phone(
        "/v1/phone/scan",
        {"qrContent": forged, "personalIdentityNumber": HOLDER.personal_identity_number},
    )
    assert scan.status_code == 400 and scan.json()["code"] == "qr-invalid"
    assert scan.headers["Content-Type"] == "application/problem+json"


def test_expired_login(registered):
    client, login, qr = start(registered)
    registered.scan_and_approve(qr.current(), HOLDER.personal_identity_number)
    registered.clock.advance(registered.config.login_ttl + 1)
    with pytest.raises(LoginExpired):
        client.request_unlock(login.order_ref, HOLDER.card_number, "identification", UnlockKey())
    assert no_credential_issued(registered)


def test_login_never_scanned_ends_start_failed(registered):
    client, login, _qr = start(registered)
    registered.clock.advance(registered.config.login_ttl + 1)
    status = client.poll_login(login.order_ref)
    assert (status.status, status.hint_code) == ("failed", "startFailed")


def test_card_that_needs_an_id_administrator(registered):
    legacy = SithsHolder(card_number="9752000000000000777", personal_identity_number="197001019999")
    registered.register(legacy, product_code="SITHS-LEGACY-CARD-1")
    with pytest.raises(NeedsIdAdministrator):
        registered.client().start_login(legacy.card_number)


def test_per_card_attempt_limit(registered):
    client = registered.client()
    for _ in range(registered.config.card_attempt_limit):
        _client, login, qr = start(registered, client)
        registered.scan_and_approve(qr.current(), HOLDER.personal_identity_number)
        client.request_unlock(login.order_ref, HOLDER.card_number, "identification", UnlockKey())
    with pytest.raises(TooManyAttempts):
        client.start_login(HOLDER.card_number)


def test_declined_on_the_phone(registered):
    client, login, qr = start(registered)
    scan = registered.phone(
        "/v1/phone/scan",
        {"qrContent": qr.current(), "personalIdentityNumber": HOLDER.personal_identity_number},
    )
    assert client.poll_login(login.order_ref).hint_code == "userSign"
    decline = registered.phone(
        f"/v1/phone/{scan.json()['orderRef']}/decline",
        {"personalIdentityNumber": HOLDER.personal_identity_number},
    )
    assert decline.status_code == 200
    status = client.poll_login(login.order_ref)
    assert (status.status, status.hint_code) == ("failed", "userCancel")
    with pytest.raises(CardServiceProblem) as refused:
        client.request_unlock(login.order_ref, HOLDER.card_number, "identification", UnlockKey())
    assert refused.value.code == "login-not-complete"


def test_a_new_login_cancels_the_older_one(registered):
    client, first, _qr = start(registered)
    _client, second, _qr2 = start(registered, client)
    old = client.poll_login(first.order_ref)
    assert (old.status, old.hint_code) == ("failed", "cancelled")
    assert client.poll_login(second.order_ref).status == "pending"


def test_maintenance_refuses_new_work_but_records_outcomes(registered):
    client, login, qr = start(registered)
    registered.scan_and_approve(qr.current(), HOLDER.personal_identity_number)
    credential = client.request_unlock(
        login.order_ref, HOLDER.card_number, "identification", UnlockKey()
    )
    registered.store.set_setting("maintenance", "on")
    assert client.health() == "maintenance"
    with pytest.raises(ServiceInMaintenance):
        client.start_login(HOLDER.card_number)
    client.report_outcome(credential.unlock_id, "unlocked")  # still accepted
    assert registered.store.unlock(credential.unlock_id).outcome == "unlocked"


def kiosk_post(service, path: str, **request: object) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    return session.post(
        f"{service.url}{path}",
        cert=(service.pki.kiosk_cert("kiosk-entre-a"), service.pki.kiosk_key("kiosk-entre-a")),
        verify=service.pki.service_ca,
        timeout=10,
        **request,
    )


def test_malformed_request_body_is_invalid_request(registered):
    answer = kiosk_post(
        registered,
        "/v1/logins",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400 and answer.json()["code"] == "invalid-request"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"cardNumber": "9752-2698"}, "cardNumber"),
        ({}, "cardNumber"),
        ({"card_number": HOLDER.card_number}, "card_number"),  # wire names only
        ({"cardNumber": HOLDER.card_number, "kioskId": "kiosk-entre-b"}, "kioskId"),
        ([HOLDER.card_number], "the body"),
    ],
    ids=["pattern", "missing", "python-name", "unknown-member", "not-an-object"],
)
def test_a_body_off_the_schema_is_refused_naming_the_member(registered, body, named):
    answer = kiosk_post(registered, "/v1/logins", json=body)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["code"] == "invalid-request"
    assert named in answer.json()["detail"]
    assert registered.store.audit_log() == []  # nothing started


def test_an_unknown_kiosk_hears_so_before_anything_about_its_body(registered):
    session = requests.Session()
    session.trust_env = False
    answer = session.post(
        f"{registered.url}/v1/logins",
        json={"cardNumber": "not digits"},
        cert=(
            registered.pki.kiosk_cert("kiosk-unknown"),
            registered.pki.kiosk_key("kiosk-unknown"),
        ),
        verify=registered.pki.service_ca,
        timeout=10,
    )
    assert answer.status_code == 403 and answer.json()["code"] == "unknown-kiosk"


def test_a_refusal_never_repeats_the_value_sent(registered):
    _client, login, qr = start(registered)
    wrong_person = "19800101123X"
    scan = registered.phone(
        "/v1/phone/scan", {"qrContent": qr.current(), "personalIdentityNumber": wrong_person}
    )
    assert scan.status_code == 400 and scan.json()["code"] == "invalid-request"
    assert "personalIdentityNumber" in scan.json()["detail"]
    assert wrong_person not in scan.text
    outcome = kiosk_post(
        registered, f"/v1/unlocks/{login.order_ref}/outcome", json={"result": "PIN 24681357"}
    )
    assert outcome.status_code == 400 and "result" in outcome.json()["detail"]
    assert "24681357" not in outcome.text


def test_an_abandoned_complete_login_releases_nothing_later(registered):
    client, login, qr = start(registered)
    registered.scan_and_approve(qr.current(), HOLDER.personal_identity_number)
    client.cancel_login(login.order_ref)  # the card was pulled before the PIN was chosen
    with pytest.raises(CardServiceProblem) as refused:
        client.request_unlock(login.order_ref, HOLDER.card_number, "identification", UnlockKey())
    assert refused.value.code == "login-not-complete"
    assert no_credential_issued(registered)
