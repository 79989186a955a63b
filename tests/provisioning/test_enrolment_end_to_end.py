"""The issue's story end to end, every part real: facility IT makes a device CA and a token
(``kiosk-fleet``), the fleet server serves enrolment over HTTPS, the technician runs
``kiosk-provision enrol --usb``, and ``kiosk run --headless`` with only what enrolment wrote
reaches Mosquitto (its birth arrives at the fleet) and the card service (health OK). After
``kiosk-provision decommission``, the CRL (Mosquitto: SIGHUP; card service: its timer)
makes both refuse the old certificate."""

from __future__ import annotations

import datetime as dt
import shutil
import ssl
import subprocess
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cardservice.service import ServiceConfig
from fleet import views
from fleet.cli import main as fleet_cli
from fleet.device_ca import DeviceCa
from fleet.ingest import BrokerSettings
from fleet.server import EnrolSettings, FleetServer, ServerSettings
from fleet.store import Store
from fleet.web.enrol import enrol_tls_context
from protocol import enrolment as en
from provisioning import kiosk_file
from tests.fleet.kiosk_processes import KIOSK_RUN
from tests.harness.cardservice import CardServiceHarness
from tests.harness.enrol_fleet import SITE, site_settings
from tests.harness.mosquitto import FLEET_ID, Mosquitto
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.pcsc

KIOSK = "kiosk-entre-d"


def fleet_command(*argv: str) -> None:
    assert fleet_cli(list(argv)) == 0


def identity(state, folder, name):
    """A certificate from the fleet's device CA, as the fleet's own broker identity gets one."""
    ca = DeviceCa.load(state)
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    cert, key_file = folder / f"{name}.pem", folder / f"{name}.key"
    cert.write_bytes(
        ca.sign(request, dt.datetime.now(dt.UTC)).public_bytes(serialization.Encoding.PEM)
    )
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key_file


def broker_accepts(port, ca, cert, key) -> bool:
    """Whether Mosquitto completes an MQTT connection with this certificate."""
    done = threading.Event()
    accepted: list[bool] = []
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"probe-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5,
    )
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(cert, key)
    client.tls_set_context(context)

    def connected(_c, _u, _f, reason, _p) -> None:
        accepted.append(not reason.is_failure)
        done.set()

    client.on_connect = connected
    client.on_disconnect = lambda *_: done.set()
    try:
        client.connect("127.0.0.1", port, keepalive=10)
    except (OSError, ssl.SSLError):
        return False
    client.loop_start()
    done.wait(10)
    client.disconnect()
    client.loop_stop()
    return accepted == [True]


def card_service_health(url, ca, cert, key) -> bool:
    """Whether GET /v1/health with this client certificate is answered "ok"."""
    try:
        answer = requests.get(
            f"{url}/v1/health", verify=str(ca), cert=(str(cert), str(key)), timeout=5
        )
    except requests.exceptions.SSLError:
        return False
    except requests.exceptions.ConnectionError:
        return False
    return answer.status_code == 200 and answer.json().get("status") == "ok"


def newest_health(store, kiosk):
    found = views.kiosk(store, kiosk, time.time())
    return found["health"] if found else {}


def test_enrol_run_decommission_and_the_crl(tmp_path, dev_pki, smtp_sink, siths_pki, pcscd):
    state, device, stick = (
        tmp_path / "fleet",
        tmp_path / "device",
        tmp_path / "media" / "it" / "USB",
    )
    fleet_command("ca", "init", "--state-dir", str(state))
    crl = tmp_path / "kiosks.crl"
    fleet_command("crl", "--out", str(crl), "--state-dir", str(state))
    device_ca = state / "device-ca.pem"
    broker = Mosquitto(tmp_path / "broker", dev_pki, client_ca=device_ca, crl_file=crl).start()
    card_service = CardServiceHarness(
        tmp_path / "cardservice",
        dev_pki,
        smtp_sink,
        ServiceConfig(),
        client_ca=device_ca,
        client_crl=crl,
        crl_interval=0.5,
    )
    fleet_cert, fleet_key = identity(state, tmp_path, FLEET_ID)
    store = Store(state / "fleet.sqlite3")
    trust = siths_pki.anchors_pem().decode()
    server = FleetServer(
        ServerSettings(
            broker=BrokerSettings(
                "127.0.0.1", broker.port, dev_pki.service_ca, fleet_cert, fleet_key
            ),
            port=0,
            look_interval=0.2,
            stream_poll=0.2,
            enrol=EnrolSettings(
                tls=enrol_tls_context(dev_pki.service_cert, dev_pki.service_key, device_ca),
                ca=DeviceCa.load(state),
                site=site_settings(dev_pki, card_service.url, broker.port, trust),
                tls_ca_pem=dev_pki.service_ca.read_text(),
                port=0,
            ),
        ),
        store,
    ).start()
    kiosk = None
    try:
        assert server.ingest.wait_ready(15)
        stick.mkdir(parents=True)
        fleet_command(
            "token", "create", "--site", SITE, "--kiosk-id", KIOSK, "--location", "Entré D",
            "--fleet-url", str(server.enrol_url), "--fleet-tls-ca", str(dev_pki.service_ca),
            "--file", str(stick / en.TOKEN_FILE_NAME), "--qr", str(tmp_path / "token.svg"),
            "--state-dir", str(state),
        )  # fmt: skip
        assert (tmp_path / "token.svg").read_text().startswith("<?xml")
        config = tmp_path / "etc" / "kiosk.toml"
        provision = [
            sys.executable,
            "-m",
            "provisioning.cli",
            "--state-dir",
            str(device),
            "--config",
            str(config),
        ]
        enrolled = subprocess.run(
            [*provision, "enrol", "--usb", "--media-root", str(tmp_path / "media")],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert enrolled.returncode == 0, enrolled.stderr
        written = kiosk_file.read(config)
        paths = [
            written["card_service"]["ca_file"], written["card_service"]["client_cert"],
            written["card_service"]["client_key"], *written["cards"]["trust_anchors"],
            written["telemetry"]["ca_file"], written["telemetry"]["card_hash_key_file"],
        ]  # fmt: skip
        assert all(path.startswith(str(device)) for path in paths), "only what enrolment wrote"

        log = (tmp_path / "kiosk.log").open("wb")
        kiosk = subprocess.Popen(
            [*KIOSK_RUN, "--config", str(config)],
            env=pcscd.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for(
            lambda: (
                views.kiosk_exists(store, KIOSK)
                and newest_health(store, KIOSK).get("card_service_up")
            ),
            timeout=30,
            what="the enrolled kiosk's birth and a health sample with the card service up",
        )
        summary = views.kiosk(store, KIOSK, time.time())
        assert summary["site"] == SITE and summary["location"] == "Entré D"
        kiosk.terminate()
        kiosk.wait(15)

        old = tmp_path / "old"
        old.mkdir()
        cert, key = old / "device.pem", old / "device.key"
        shutil.copy(device / "device.pem", cert)
        shutil.copy(device / "device.key", key)
        assert broker_accepts(broker.port, dev_pki.service_ca, cert, key)
        assert card_service_health(card_service.url, dev_pki.service_ca, cert, key)

        gone = subprocess.run(
            [*provision, "decommission"], capture_output=True, text=True, timeout=60, check=False
        )
        assert gone.returncode == 0, gone.stderr
        assert not (device / "device.key").exists() and not config.exists()
        fleet_command("crl", "--out", str(crl), "--state-dir", str(state))
        broker.reload()
        wait_for(
            lambda: not broker_accepts(broker.port, dev_pki.service_ca, cert, key),
            timeout=20,
            what="Mosquitto to refuse the revoked certificate after SIGHUP",
        )
        wait_for(
            lambda: not card_service_health(card_service.url, dev_pki.service_ca, cert, key),
            timeout=20,
            what="the card service to refuse the revoked certificate",
        )
        assert broker_accepts(broker.port, dev_pki.service_ca, fleet_cert, fleet_key), (
            "others still in"
        )
    finally:
        if kiosk is not None and kiosk.poll() is None:
            kiosk.kill()
            kiosk.wait(10)
        server.stop()
        store.close()
        card_service.stop()
        broker.stop()
