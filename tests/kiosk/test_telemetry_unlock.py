"""The appliance with telemetry, end to end on real parts (pcscd and a virtual SITHS card, the
card service over mutual TLS, Mosquitto): every byte that leaves the kiosk for the fleet during
a whole unlock is scanned for the PIN, the PUK, the personal identity number and names."""

from __future__ import annotations

import pytest

from cardservice.service import ServiceConfig
from kiosk.appliance import Appliance
from kiosk.config import parse, render
from kiosk.flow import events as ev
from kiosk.flow.states import CardSummary, Done, Idle, LoginQr, NewPin
from protocol import telemetry as tm
from protocol.login_qr import QrAnimation
from tests.harness.cardservice import KIOSK_ID, CardServiceHarness

pytestmark = pytest.mark.pcsc
NEW_PIN = "48291573"
PUK = b"12345678"


def is_(kind):
    return lambda state: isinstance(state, kind)


@pytest.fixture
def appliance(tmp_path, broker, broker_pki, siths_pki, smtp_sink, standard_siths_certificates):
    service = CardServiceHarness(tmp_path / "cs", broker_pki, smtp_sink, ServiceConfig())
    holder, _ = standard_siths_certificates
    service.register(holder, secret=PUK)
    trust = tmp_path / "siths-trust.pem"
    trust.write_bytes(siths_pki.anchors_pem() + siths_pki.intermediates_pem())
    key = tmp_path / "card-hash.key"
    key.write_bytes(b"k" * 32)
    config = parse(
        render(
            kiosk_id=KIOSK_ID,
            location="Entré A",
            url=service.url,
            ca_file=broker_pki.service_ca,
            client_cert=broker_pki.kiosk_cert(KIOSK_ID),
            client_key=broker_pki.kiosk_key(KIOSK_ID),
            trust_anchors=[trust],
            fullscreen=False,
            outcome_outbox=tmp_path / "outcomes.sqlite3",
            telemetry={
                "broker": f"mqtts://127.0.0.1:{broker.port}",
                "ca_file": broker_pki.service_ca,
                "card_hash_key_file": key,
                "outbox": tmp_path / "outbox.sqlite3",
                "health_interval": 5,
                "site": "Testsjukhuset",
            },
        )
    )
    running = Appliance.build(config).start()
    running.service = service
    running.holder = holder
    yield running
    running.stop()
    service.stop()


def test_nothing_that_leaves_the_kiosk_holds_a_secret_or_a_name(appliance, fleet, make_siths_slot):
    controller = appliance.controller
    slot = make_siths_slot(identification_tries_left=0)
    controller.wait_for(is_(CardSummary), 30)
    controller.dispatch(ev.StartMobileLogin())
    login = controller.wait_for(is_(LoginQr), 30).login
    frame = QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret).current()
    appliance.service.scan_and_approve(frame, appliance.holder.personal_identity_number)
    controller.wait_for(is_(NewPin), 30)
    controller.dispatch(ev.PinEntered(NEW_PIN))
    controller.dispatch(ev.PinEntered(NEW_PIN))
    controller.wait_for(is_(Done), 30)
    slot.remove()
    controller.wait_for(is_(Idle), 30)
    fleet.wait(
        lambda: [e.kind for e in fleet.events(KIOSK_ID)][-1:] == ["session-ended"], "the end", 30
    )
    kinds = [e.kind for e in fleet.events(KIOSK_ID)]
    assert "unlock-succeeded" in kinds and "reader-connected" in kinds
    (done,) = [e for e in fleet.events(KIOSK_ID) if e.kind == "unlock-succeeded"]
    assert done.mechanism == "puk" and done.outcome == "unlocked"
    assert done.card == tm.card_hash(b"k" * 32, appliance.holder.card_number)
    assert fleet.states(KIOSK_ID)[0].site == "Testsjukhuset"
    everything = fleet.all_bytes()
    holder = appliance.holder
    for secret in (
        NEW_PIN,
        PUK.decode(),
        holder.personal_identity_number,
        holder.card_number,
        holder.given_name,
        holder.surname,
        holder.email,
        holder.hsa_id,
    ):
        assert secret.encode() not in everything, f"{secret!r} left the kiosk"
