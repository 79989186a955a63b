"""The enrolment listener over HTTPS on SQLite and PostgreSQL: issuing, every refusal with its
code and words, one token against two racing enrolments, renewal, decommissioning, the CRL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protocol import enrolment as en
from provisioning.keystore import FileKeyStore
from tests.harness.enrol_fleet import SITE, EnrolFleet, site_settings
from tests.harness.waiting import wait_for

KIOSK = "kiosk-entre-b"


@pytest.fixture
def fleet(tmp_path, store_url, dev_pki):
    settings = site_settings(dev_pki, "https://127.0.0.1:9", 8883, dev_pki.service_ca.read_text())
    running = EnrolFleet(tmp_path / "fleet", store_url, dev_pki, settings)
    yield running
    running.stop()


def keystore(tmp_path, name="device.key") -> FileKeyStore:
    store = FileKeyStore(tmp_path / name)
    store.generate()
    return store


def post(fleet, path, body, cert=None):
    return requests.post(
        fleet.url + path, json=body, verify=str(fleet.pki.service_ca), cert=cert, timeout=10
    )


def enrol_body(token, store, kiosk=KIOSK, **extra):
    return {
        "token": token.token,
        "kioskId": kiosk,
        "csr": store.certificate_request(kiosk),
        **extra,
    }


def refused(answer, code):
    assert answer.status_code == en.PROBLEMS[en.EnrolProblem(code)].status, answer.text
    body = answer.json()
    assert body["code"] == code
    assert body["title"] == en.PROBLEMS[en.EnrolProblem(code)].title
    return body


def test_enrolment_issues_a_client_certificate_for_the_device_key(fleet, tmp_path):
    store = keystore(tmp_path)
    answer = post(fleet, en.ENROL_PATH, enrol_body(fleet.token(), store, location="Entré B"))
    assert answer.status_code == 201, answer.text
    body = en.EnrolResponse.model_validate(answer.json())
    cert = x509.load_pem_x509_certificate(body.certificate.encode())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == KIOSK
    assert cert.public_key() == store.public_key()
    assert cert.issuer == fleet.ca.certificate.subject
    cert.verify_directly_issued_by(fleet.ca.certificate)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert body.config.site == SITE
    assert body.config.location == "Entré B"
    assert body.config.broker.url == "mqtts://127.0.0.1:8883"
    assert len(body.config.card_hash_key) >= 44


def test_the_pinned_tls_ca_is_served_and_matches_the_token(fleet):
    answer = requests.get(fleet.url + en.TLS_CA_PATH, verify=str(fleet.pki.service_ca), timeout=10)
    assert en.ca_sha256(answer.text) == fleet.token().fleet_ca_sha256


def test_a_reused_token_is_refused(fleet, tmp_path):
    token = fleet.token()
    assert post(fleet, en.ENROL_PATH, enrol_body(token, keystore(tmp_path))).status_code == 201
    again = post(fleet, en.ENROL_PATH, enrol_body(token, keystore(tmp_path, "b"), kiosk="other"))
    refused(again, "token-used")


def test_an_expired_or_revoked_token_is_refused(fleet, tmp_path):
    old = fleet.token(now=time.time() - 7200, valid=3600)
    body = refused(post(fleet, en.ENROL_PATH, enrol_body(old, keystore(tmp_path))), "token-expired")
    assert "expired at" in body["detail"]
    token = fleet.token()
    listed = fleet.enrolment.tokens(time.time())
    assert fleet.enrolment.revoke_token(listed[0]["id"], time.time())
    refused(post(fleet, en.ENROL_PATH, enrol_body(token, keystore(tmp_path, "b"))), "token-used")


def test_a_token_for_another_site_or_kiosk_is_refused(fleet, tmp_path):
    store = keystore(tmp_path)
    other_site = post(
        fleet, en.ENROL_PATH, enrol_body(fleet.token("Annat sjukhus"), store, site=SITE)
    )
    assert "for site 'Annat sjukhus'" in refused(other_site, "token-mismatch")["detail"]
    bound = fleet.token(kiosk_id="kiosk-x")
    other_kiosk = post(fleet, en.ENROL_PATH, enrol_body(bound, store))
    assert "for kiosk 'kiosk-x'" in refused(other_kiosk, "token-mismatch")["detail"]


def _csr_with_someone_elses_key(store: FileKeyStore) -> str:
    """A CSR signed by the device key but carrying another key: the signature cannot hold."""
    der = x509.load_pem_x509_csr(store.certificate_request(KIOSK).encode()).public_bytes(
        serialization.Encoding.DER
    )
    request = asn1_csr.CertificationRequest.load(der)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = other.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    request["certification_request_info"]["subject_pk_info"] = asn1_keys.PublicKeyInfo.load(spki)
    body = request.dump(force=True)
    return x509.load_der_x509_csr(body).public_bytes(serialization.Encoding.PEM).decode()


def test_a_csr_whose_key_does_not_match_is_refused_and_keeps_the_token(fleet, tmp_path):
    store = keystore(tmp_path)
    token = fleet.token()
    forged = {"token": token.token, "kioskId": KIOSK, "csr": _csr_with_someone_elses_key(store)}
    body = refused(post(fleet, en.ENROL_PATH, forged), "csr-invalid")
    assert body["detail"] == "the CSR is not signed by the key it carries"
    wrong_name = {
        "token": token.token,
        "kioskId": "kiosk-y",
        "csr": store.certificate_request(KIOSK),
    }
    assert "kiosk-y" in refused(post(fleet, en.ENROL_PATH, wrong_name), "csr-invalid")["detail"]
    assert post(fleet, en.ENROL_PATH, enrol_body(token, store)).status_code == 201


def test_an_enrolled_kiosk_id_is_not_enrolled_twice(fleet, tmp_path):
    assert (
        post(fleet, en.ENROL_PATH, enrol_body(fleet.token(), keystore(tmp_path))).status_code == 201
    )
    twice = post(fleet, en.ENROL_PATH, enrol_body(fleet.token(), keystore(tmp_path, "b")))
    refused(twice, "kiosk-exists")


def test_a_malformed_body_is_invalid_request(fleet):
    refused(post(fleet, en.ENROL_PATH, {"token": "x"}), "invalid-request")


def test_an_enrolment_whose_answer_was_lost_gets_the_same_answer_again(fleet, tmp_path):
    # The token is spent with the certificate issued; a kiosk that never saw the answer
    # (power, network) asks again with the same token and key and is not locked out.
    token, store = fleet.token(), keystore(tmp_path)
    first = post(fleet, en.ENROL_PATH, enrol_body(token, store))
    assert first.status_code == 201
    again = post(fleet, en.ENROL_PATH, enrol_body(token, store))
    assert again.status_code == 201, again.text
    assert again.json()["certificate"] == first.json()["certificate"]
    # Not for anyone else: the same token with another key, or for another kiosk id.
    refused(post(fleet, en.ENROL_PATH, enrol_body(token, keystore(tmp_path, "b"))), "token-used")
    refused(post(fleet, en.ENROL_PATH, enrol_body(token, store, kiosk="other")), "token-used")


def test_two_enrolments_racing_with_one_token_exactly_one_wins(fleet, tmp_path):
    for round_ in range(3):
        token = fleet.token()
        bodies = [
            enrol_body(token, keystore(tmp_path, f"{round_}-{i}"), kiosk=f"race-{round_}-{i}")
            for i in range(2)
        ]
        start = threading.Barrier(2)
        answers: list = [None, None]

        def go(i: int, bodies=bodies, start=start, answers=answers) -> None:
            start.wait()
            answers[i] = post(fleet, en.ENROL_PATH, bodies[i])

        threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [201, 403], [a.text for a in answers]
        loser = next(a for a in answers if a.status_code == 403)
        assert loser.json()["code"] == "token-used"


def test_renewal_decommissioning_and_the_crl(fleet, tmp_path):
    store = keystore(tmp_path)
    answer = post(fleet, en.ENROL_PATH, enrol_body(fleet.token(), store))
    cert_file = tmp_path / "device.pem"
    cert_file.write_text(answer.json()["certificate"])
    identity = (str(cert_file), str(store.path))
    renewed = post(fleet, en.RENEW_PATH, {"csr": store.certificate_request(KIOSK)}, identity)
    assert renewed.status_code == 201, renewed.text
    fresh = x509.load_pem_x509_certificate(renewed.json()["certificate"].encode())
    assert fresh.public_key() == store.public_key()
    refused(
        post(fleet, en.RENEW_PATH, {"csr": store.certificate_request(KIOSK)}),
        "client-certificate-required",
    )
    bye = post(fleet, en.DECOMMISSION_PATH, None, identity)
    assert bye.status_code == 200 and bye.json() == {"revoked": True}
    again = post(fleet, en.RENEW_PATH, {"csr": store.certificate_request(KIOSK)}, identity)
    assert "was revoked at" in refused(again, "certificate-revoked")["detail"]
    crl_text = requests.get(
        fleet.url + en.CRL_PATH, verify=str(fleet.pki.service_ca), timeout=10
    ).text
    crl = x509.load_pem_x509_crl(crl_text.encode())
    assert crl.is_signature_valid(fleet.ca.certificate.public_key())
    old = x509.load_pem_x509_certificate(cert_file.read_bytes())
    assert {r.serial_number for r in crl} == {old.serial_number, fresh.serial_number}


@pytest.fixture
def hold_signing(fleet, monkeypatch) -> Iterator[Callable[[], tuple]]:
    """From a call on, signing stops (inside its transaction) until released.

    The call returns two events: signing reached, and its release.
    """
    signing, go_on = threading.Event(), threading.Event()
    sign = type(fleet.ca).sign

    def held_sign(ca, *args, **kwargs):
        signing.set()
        go_on.wait(30)
        return sign(ca, *args, **kwargs)

    def hold() -> tuple[threading.Event, threading.Event]:
        monkeypatch.setattr(type(fleet.ca), "sign", held_sign)
        return signing, go_on

    yield hold
    go_on.set()


def wait_until_blocked_in_the_database(fleet, what: str) -> None:
    """PostgreSQL: wait until a transaction waits for a lock (SQLite: they wait at BEGIN)."""
    if fleet.store.engine.dialect.name != "postgresql":
        return

    def waiting() -> bool:
        with fleet.store.engine.connect() as connection:
            found = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).scalar()
        return bool(found)

    wait_for(waiting, timeout=10, what=what)


def test_a_revocation_during_a_renewal_revokes_the_renewed_certificate_too(
    fleet, tmp_path, hold_signing
):
    store = keystore(tmp_path)
    answer = post(fleet, en.ENROL_PATH, enrol_body(fleet.token(), store))
    cert_file = tmp_path / "device.pem"
    cert_file.write_text(answer.json()["certificate"])
    identity = (str(cert_file), str(store.path))

    # The renewal stops inside its transaction, just before signing.
    signing, go_on = hold_signing()
    renewed: list = []
    renewal = threading.Thread(
        target=lambda: renewed.append(
            post(fleet, en.RENEW_PATH, {"csr": store.certificate_request(KIOSK)}, identity)
        )
    )
    renewal.start()
    assert signing.wait(10), "the renewal never reached signing"
    revocation = threading.Thread(
        target=fleet.enrolment.revoke_kiosk, args=(KIOSK, time.time(), "operator")
    )
    revocation.start()
    wait_until_blocked_in_the_database(fleet, "the revocation to wait for the renewal")
    go_on.set()
    renewal.join(30)
    revocation.join(30)
    assert renewed and renewed[0].status_code == 201, renewed
    fresh = x509.load_pem_x509_certificate(renewed[0].json()["certificate"].encode())
    crl = x509.load_pem_x509_crl(fleet.enrolment.crl(time.time()).encode())
    assert crl.get_revoked_certificate_by_serial_number(fresh.serial_number) is not None


def test_two_enrolments_of_one_kiosk_id_at_once_give_it_one_certificate(
    fleet, tmp_path, hold_signing
):
    # Two site tokens, one kiosk id: the first enrolment stops just before signing.
    tokens = fleet.token(), fleet.token()
    signing, go_on = hold_signing()
    first: list = []
    enrolling = threading.Thread(
        target=lambda: first.append(
            post(fleet, en.ENROL_PATH, enrol_body(tokens[0], keystore(tmp_path)))
        )
    )
    enrolling.start()
    assert signing.wait(10), "the first enrolment never reached signing"
    second: list = []
    racing = threading.Thread(
        target=lambda: second.append(
            post(fleet, en.ENROL_PATH, enrol_body(tokens[1], keystore(tmp_path, "b")))
        )
    )
    racing.start()
    wait_until_blocked_in_the_database(fleet, "the second enrolment to wait for the first")
    go_on.set()
    enrolling.join(30)
    racing.join(30)
    assert first and first[0].status_code == 201, first
    assert second, "the second enrolment got no answer"
    refused(second[0], "kiosk-exists")
    # The refused enrolment spent nothing: its token still enrols another kiosk.
    again = post(
        fleet, en.ENROL_PATH, enrol_body(tokens[1], keystore(tmp_path, "c"), kiosk="other")
    )
    assert again.status_code == 201, again.text
