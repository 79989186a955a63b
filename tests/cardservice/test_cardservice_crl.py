"""The card service and the kiosks' CRL: a revoked kiosk is refused at the handshake and its
open connection dropped once the file changes; a broken file keeps the previous CRL; a
file that does not verify is refused with the reason."""

from __future__ import annotations

import datetime as dt
import logging
import os

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cardservice.client_crl import CrlError, Reminder, load, staleness
from cardservice.service import ServiceConfig
from fleet.device_ca import CRL_DAYS, DeviceCa
from tests.harness.cardservice import CardServiceHarness
from tests.harness.waiting import wait_for

#: A moment one day before a fresh CRL's next update.
CRL_DAYS_LEFT_ONE = dt.timedelta(days=CRL_DAYS - 1)


def issue(ca: DeviceCa, folder, kiosk: str):
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kiosk)]))
        .sign(key, hashes.SHA256())
    )
    certificate = ca.sign(request, dt.datetime.now(dt.UTC))
    cert, key_file = folder / f"{kiosk}.pem", folder / f"{kiosk}.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate, (str(cert), str(key_file))


def replace(path, text: str) -> None:
    partial = path.with_name(path.name + ".new")
    partial.write_text(text)
    os.replace(partial, path)


def health(session: requests.Session, url: str, ca, cert) -> bool:
    try:
        answer = session.get(f"{url}/v1/health", verify=str(ca), cert=cert, timeout=5)
    except requests.exceptions.ConnectionError:  # SSLError is one
        return False
    return answer.status_code == 200


def crl_service(tmp_path, dev_pki, smtp_sink, crl, client_ca=None) -> CardServiceHarness:
    """The card service for the device CA's kiosks, looking at ``crl`` every 0.2 s."""
    return CardServiceHarness(
        tmp_path / "cs",
        dev_pki,
        smtp_sink,
        ServiceConfig(),
        client_ca=client_ca or tmp_path / "ca" / "device-ca.pem",
        client_crl=crl,
        crl_interval=0.2,
    )


@pytest.fixture
def device_ca(tmp_path):
    ca = DeviceCa.create("Test device CA", dt.datetime.now(dt.UTC))
    ca.save(tmp_path / "ca")
    return ca


def test_a_revoked_kiosk_is_refused_and_its_open_connection_dropped(
    tmp_path, dev_pki, smtp_sink, device_ca, caplog
):
    caplog.set_level(logging.INFO, logger="cardservice.http_server")
    crl = tmp_path / "kiosks.crl"
    now = dt.datetime.now(dt.UTC)
    crl.write_text(device_ca.crl([], now, 1))
    revoked_cert, revoked = issue(device_ca, tmp_path, "kiosk-revoked")
    _, kept = issue(device_ca, tmp_path, "kiosk-kept")
    service = crl_service(tmp_path, dev_pki, smtp_sink, crl)
    try:
        open_session = requests.Session()
        assert health(open_session, service.url, dev_pki.service_ca, revoked)

        replace(crl, "not a CRL")
        wait_for(lambda: "was not reloaded" in caplog.text, what="the broken CRL to be refused")
        assert health(requests.Session(), service.url, dev_pki.service_ca, revoked)

        replace(crl, device_ca.crl([(revoked_cert.serial_number, now)], now, 2))
        wait_for(lambda: "1 revoked" in caplog.text, what="the new CRL to be loaded")
        assert "1 open connection(s) dropped" in caplog.text
        assert not health(open_session, service.url, dev_pki.service_ca, revoked)
        assert not health(requests.Session(), service.url, dev_pki.service_ca, revoked)
        assert health(requests.Session(), service.url, dev_pki.service_ca, kept)
    finally:
        service.stop()


def test_a_crl_that_does_not_verify_is_refused_with_the_reason(tmp_path, device_ca):
    """What the server runs at start (the start then fails) and at every change."""
    stranger = DeviceCa.create("Another CA", dt.datetime.now(dt.UTC))
    crl = tmp_path / "kiosks.crl"
    crl.write_text(stranger.crl([], dt.datetime.now(dt.UTC), 1))
    with pytest.raises(CrlError, match="not signed by a CA of the client CA file"):
        load(crl, tmp_path / "ca" / "device-ca.pem")
    crl.write_text("")
    with pytest.raises(CrlError, match="holds no PEM CRL"):
        load(crl, tmp_path / "ca" / "device-ca.pem")


def test_a_crl_past_its_next_update_is_refused_and_one_close_to_it_warned(
    tmp_path, device_ca, caplog
):
    """OpenSSL refuses every kiosk of a CA whose CRL is out of date: keep the previous one."""
    crl, client_ca = tmp_path / "kiosks.crl", tmp_path / "ca" / "device-ca.pem"
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    crl.write_text(device_ca.crl([], issued, 1))
    with pytest.raises(CrlError, match=r"is out of date since .* refresh the file"):
        load(crl, client_ca)
    later = dt.datetime.now(dt.UTC)
    crl.write_text(device_ca.crl([], later, 2))
    with caplog.at_level(logging.WARNING, logger="cardservice.client_crl"):
        load(crl, client_ca, now=later + CRL_DAYS_LEFT_ONE)
    assert "the CRL of CN=Test device CA is out of date at" in caplog.text


def test_a_crl_in_use_going_out_of_date_is_told_and_a_fresh_file_ends_it(
    tmp_path, dev_pki, smtp_sink, device_ca, caplog
):
    """The file stays the same while its CRL runs out: the log says so, and what it means."""
    caplog.set_level(logging.INFO, logger="cardservice.http_server")
    crl = tmp_path / "kiosks.crl"
    runs_out = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=6)
    crl.write_text(device_ca.crl([], runs_out - dt.timedelta(days=CRL_DAYS), 1))
    _, kiosk = issue(device_ca, tmp_path, "kiosk-a")
    service = crl_service(tmp_path, dev_pki, smtp_sink, crl)
    try:
        assert "will be refused: refresh the file" in caplog.text or (
            "the CRL of CN=Test device CA is out of date at" in caplog.text
        )
        wait_for(
            lambda: "is refused until the file is refreshed" in caplog.text,
            timeout=30,
            what="the service to say the CRL in use ran out",
        )
        assert not health(requests.Session(), service.url, dev_pki.service_ca, kiosk)

        replace(crl, device_ca.crl([], dt.datetime.now(dt.UTC), 2))
        wait_for(
            lambda: health(requests.Session(), service.url, dev_pki.service_ca, kiosk),
            what="the kiosk to be served again with the fresh CRL",
        )
    finally:
        service.stop()


def test_the_reminder_says_a_message_when_new_and_hourly_while_it_lasts():
    reminder = Reminder(every=3600)
    assert reminder.due("out of date at 10:00", 0.0)
    assert not reminder.due("out of date at 10:00", 60.0)
    assert reminder.due("out of date since 10:00", 120.0)  # worse: said at once
    assert reminder.due("out of date since 10:00", 120.0 + 3600)
    assert not reminder.due(None, 4000.0)  # a fresh file ends it
    assert reminder.due("out of date at 11:00", 4001.0)


def test_with_several_cas_the_crl_running_out_is_named_and_only_its_kiosks_said_refused(
    tmp_path, device_ca
):
    """One file, one CRL per CA: the alarm names the CA whose CRL runs out, not every kiosk."""
    other = DeviceCa.create("Second device CA", dt.datetime.now(dt.UTC))
    client_ca = tmp_path / "cas.pem"
    client_ca.write_text(device_ca.pem + other.pem)
    now = dt.datetime.now(dt.UTC)
    crl = tmp_path / "kiosks.crl"
    crl.write_text(device_ca.crl([], now, 1) + other.crl([], now - CRL_DAYS_LEFT_ONE, 1))
    loaded = load(crl, client_ca)

    level, words = staleness(loaded, now)
    assert level == logging.WARNING and "CN=Second device CA" in words
    assert "Test device CA" not in words
    level, words = staleness(loaded, now + dt.timedelta(days=2))
    assert level == logging.ERROR and "every kiosk of CN=Second device CA is refused" in words
    assert staleness(loaded, now - dt.timedelta(days=3)) is None  # both fresh then


def test_a_stale_crl_of_one_ca_keeps_its_crl_in_use_and_the_others_revocations_hold(
    tmp_path, dev_pki, smtp_sink, device_ca, caplog
):
    """Two device CAs (a rotation): a file whose second CRL is stale still revokes at once."""
    caplog.set_level(logging.INFO, logger="cardservice")
    other = DeviceCa.create("Second device CA", dt.datetime.now(dt.UTC))
    client_ca = tmp_path / "cas.pem"
    client_ca.write_text(device_ca.pem + other.pem)
    now = dt.datetime.now(dt.UTC)
    crl = tmp_path / "kiosks.crl"
    crl.write_text(device_ca.crl([], now, 1) + other.crl([], now, 1))
    revoked_cert, revoked = issue(device_ca, tmp_path, "kiosk-revoked")
    _, second = issue(other, tmp_path, "kiosk-of-the-second-ca")
    service = crl_service(tmp_path, dev_pki, smtp_sink, crl, client_ca)
    try:
        assert health(requests.Session(), service.url, dev_pki.service_ca, revoked)
        assert health(requests.Session(), service.url, dev_pki.service_ca, second)
        a_month_ago = now - dt.timedelta(days=30)
        replace(
            crl,
            device_ca.crl([(revoked_cert.serial_number, now)], now, 2)
            + other.crl([], a_month_ago, 0),
        )
        wait_for(lambda: "1 revoked" in caplog.text, what="the new CRL of the first CA in use")
        assert "the CRL of CN=Second device CA is out of date since" in caplog.text
        assert "the one in use for that CA stays" in caplog.text
        assert not health(requests.Session(), service.url, dev_pki.service_ca, revoked)
        assert health(requests.Session(), service.url, dev_pki.service_ca, second)
    finally:
        service.stop()


def test_of_two_crls_of_one_ca_the_newest_is_used(tmp_path, device_ca):
    now = dt.datetime.now(dt.UTC)
    crl = tmp_path / "kiosks.crl"
    crl.write_text(
        device_ca.crl([(7, now)], now, 2) + device_ca.crl([], now - dt.timedelta(days=30), 1)
    )
    loaded = load(crl, tmp_path / "ca" / "device-ca.pem")
    assert loaded.revoked == {7} and len(loaded.crls) == 1
