"""Fixtures for the self-test: a kiosk configuration pointing at real servers started here.

The card service (in-process, HTTPS with mutual TLS) and the broker (Mosquitto with TLS,
client certificates and the ACL of docs/telemetry.md) trust the same development device
CA, so the kiosk uses one certificate for both, as an enrolled kiosk does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kiosk.config import render
from provisioning.selftest.target import Target, parse
from tests.harness.cardservice import KIOSK_ID
from tests.harness.mosquitto import Mosquitto

SITE = "Testsjukhuset"


@pytest.fixture
def broker(tmp_path, dev_pki) -> Iterator[Mosquitto]:
    """A fresh Mosquitto trusting the development device CA."""
    server = Mosquitto(tmp_path / "broker", dev_pki).start()
    yield server
    server.stop()


def pi_tree(root: Path, *, celsius: float = 51.0, throttled: int = 0) -> Path:
    """The files a Raspberry Pi's board readings come from (hw.board reads them under root)."""
    files = {
        "proc/device-tree/model": "Raspberry Pi 4 Model B Rev 1.5\0",
        "sys/class/thermal/thermal_zone0/temp": f"{round(celsius * 1000)}\n",
        "sys/devices/platform/soc/soc:firmware/get_throttled": f"{throttled:#x}\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def kiosk_config(tmp_path, dev_pki, siths_pki, cardservice, broker) -> Callable[..., Path]:
    """Factory: write a kiosk.toml with ``kiosk.config.render``; keywords change a value."""
    trust = tmp_path / "siths-trust.pem"
    trust.write_bytes(siths_pki.anchors_pem() + siths_pki.intermediates_pem())
    state = tmp_path / "state"
    state.mkdir()
    hash_key = tmp_path / "card-hash.key"
    hash_key.write_bytes(b"k" * 32)

    def write(**changes: object) -> Path:
        values: dict = {
            "url": cardservice.url,
            "ca_file": dev_pki.service_ca,
            "client_cert": dev_pki.kiosk_cert(KIOSK_ID),
            "client_key": dev_pki.kiosk_key(KIOSK_ID),
            "broker": f"mqtts://127.0.0.1:{broker.port}",
            "broker_ca": dev_pki.service_ca,
        }
        values.update(changes)
        path = tmp_path / "kiosk.toml"
        path.write_text(
            render(
                kiosk_id=KIOSK_ID,
                location="Entré A",
                url=values["url"],
                ca_file=values["ca_file"],
                client_cert=values["client_cert"],
                client_key=values["client_key"],
                trust_anchors=[trust],
                telemetry={
                    "broker": values["broker"],
                    "ca_file": values["broker_ca"],
                    "card_hash_key_file": hash_key,
                    "outbox": state / "telemetry.sqlite3",
                    "site": SITE,
                },
            )
        )
        return path

    return write


def target_of(path: Path) -> Target:
    """The self-test's target from a written configuration."""
    return parse(path.read_text(encoding="utf-8"), path)
