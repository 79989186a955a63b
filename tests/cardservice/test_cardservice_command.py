"""``kiosk-cardservice`` as an operator runs it: registered from the command line, served as a
process beside the simulated identity provider's process, no simulator in it, private files,
and a kiosk revoked while it is connected.
"""

from __future__ import annotations

import stat

import pytest
import requests

from kiosk.cardservice_errors import KioskNotAccepted
from protocol.credential import UnlockKey
from protocol.login_qr import QrAnimation
from sim.identity_provider.process import ProviderProcess
from sim.phone_client import SimulatedPhone
from sim.siths_pki import SithsHolder
from tests.harness.cardservice import KIOSK_ID
from tests.harness.service_process import ServiceProcess, cardservice_cli

HOLDER = SithsHolder()
SIMULATOR_PATHS = [
    ("GET", "/v1/phone/identities"),
    ("POST", "/v1/phone/scan"),
    ("POST", "/v1/phone/some-order/approve"),
    ("POST", "/v1/phone/some-order/decline"),
    ("GET", "/v1/phone"),
    ("GET", "/phone"),
]


@pytest.fixture(scope="module")
def provider(dev_pki):
    identity = (HOLDER.personal_identity_number, HOLDER.full_name, HOLDER.hsa_id)
    process = ProviderProcess.start(dev_pki, [identity])
    yield process
    process.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory, dev_pki, smtp_sink, provider):
    state = tmp_path_factory.mktemp("operator") / "state"
    added = cardservice_cli(
        "add-kiosk", "--state-dir", str(state), KIOSK_ID, "--location", "Entré A"
    )
    assert added.returncode == 0, added.stderr
    added = cardservice_cli(
        "add-card", "--state-dir", str(state), "--card-number", HOLDER.card_number,
        "--name", HOLDER.full_name, "--hsa-id", HOLDER.hsa_id,
        "--personal-identity-number", HOLDER.personal_identity_number, "--email", HOLDER.email,
        stdin="12345678\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert b"12345678" not in (state / "cardservice.sqlite3").read_bytes()  # sealed at rest
    service = ServiceProcess(state, dev_pki, provider.url, smtp_sink.port).start()
    yield service
    assert service.stop() == 0, service.output()
    assert "listening on https://127.0.0.1" in service.output()


def test_an_unlock_through_the_served_service_and_the_provider_process(served, provider, smtp_sink):
    smtp_sink.clear()
    client = served.client(KIOSK_ID, retries=0)
    login = client.start_login(HOLDER.card_number)
    frame = QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret).current()
    phone = SimulatedPhone(provider.url, served.pki.service_ca, HOLDER.personal_identity_number)
    phone.log_in(frame)
    assert client.poll_login(login.order_ref).status == "complete"
    credential = client.request_unlock(
        login.order_ref, HOLDER.card_number, "identification", UnlockKey()
    )
    assert credential.secret == b"12345678"
    client.report_outcome(credential.unlock_id, "unlocked")
    mail = smtp_sink.wait_for(1)[0]
    assert mail["To"] == HOLDER.email and mail["Message-ID"] and mail["Date"]


@pytest.mark.parametrize("certificate", [True, False], ids=["kiosk", "no-certificate"])
def test_serve_has_no_simulated_phone(served, certificate):
    session = requests.Session()
    session.trust_env = False
    if certificate:
        session.cert = (str(served.pki.kiosk_cert(KIOSK_ID)), str(served.pki.kiosk_key(KIOSK_ID)))
    for method, path in SIMULATOR_PATHS:
        body = {"qrContent": "x", "personalIdentityNumber": HOLDER.personal_identity_number}
        answer = session.request(
            method,
            served.url + path,
            json=body if method == "POST" else None,
            verify=served.pki.service_ca,
            timeout=10,
        )
        assert answer.status_code == 404, (method, path)
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert answer.json()["code"] == "not-found" and answer.json()["type"]


def test_state_files_are_private(served):
    folder = served.state_dir
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    names = {path.name for path in folder.iterdir()}
    assert {"cardservice.sqlite3", "cardservice.sqlite3-wal", "master.key"} <= names
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_a_revoked_kiosk_is_refused_at_its_next_request(served):
    client = served.client(KIOSK_ID, retries=0)
    login = client.start_login(HOLDER.card_number)  # connected and working
    listed = cardservice_cli("kiosk", "list", "--state-dir", str(served.state_dir))
    assert f"{KIOSK_ID}\tactive" in listed.stdout
    revoked = cardservice_cli("kiosk", "revoke", KIOSK_ID, "--state-dir", str(served.state_dir))
    assert revoked.returncode == 0, revoked.stderr
    with pytest.raises(KioskNotAccepted) as refused:
        client.poll_login(login.order_ref)  # the same keep-alive connection
    assert refused.value.code == "kiosk-revoked"
    unknown = cardservice_cli(
        "kiosk", "revoke", "kiosk-nobody", "--state-dir", str(served.state_dir)
    )
    assert unknown.returncode == 1 and "kiosk-nobody" in unknown.stderr


def test_a_card_whose_email_cannot_be_sent_to_is_refused_at_registration(tmp_path):
    for address in ("åsa.öberg@region.se", "anna", "Anna <anna@region.se>"):
        added = cardservice_cli(
            "add-card", "--state-dir", str(tmp_path / "state"), "--card-number", HOLDER.card_number,
            "--name", HOLDER.full_name, "--hsa-id", HOLDER.hsa_id,
            "--personal-identity-number", HOLDER.personal_identity_number, "--email", address,
            stdin="12345678\n",
        )  # fmt: skip
        assert added.returncode == 2
        assert "not an e-mail address the card service can send to" in added.stderr
        assert "Traceback" not in added.stderr
