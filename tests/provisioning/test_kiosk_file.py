"""What provisioning writes into kiosk.toml is what the kiosk reads (the two never import
each other, so this test is where they meet)."""

from __future__ import annotations

from pathlib import Path

from kiosk.config import parse
from provisioning import kiosk_file


def provisioned(folder: Path) -> kiosk_file.Provisioned:
    return kiosk_file.Provisioned(
        kiosk_id="kiosk-entre-a",
        location="Entré A, Testsjukhuset",
        site="Testsjukhuset",
        card_service_url="https://cardservice.example.org:8443",
        card_service_ca=folder / "cardservice-ca.pem",
        client_cert=folder / "device.pem",
        client_key=folder / "device.key",
        trust_anchors=(folder / "siths-trust.pem",),
        broker="mqtts://broker.example.org:8883",
        broker_ca=folder / "broker-ca.pem",
        card_hash_key_file=folder / "card-hash.key",
        outbox=folder / "telemetry.sqlite3",
        health_interval=60.0,
        outcome_outbox=folder / "outcomes.sqlite3",
    )


def test_the_kiosk_reads_what_provisioning_writes(tmp_path):
    path = tmp_path / "kiosk.toml"
    kiosk_file.write(path, provisioned(tmp_path))
    config = parse(path.read_text())
    assert config.kiosk_id == "kiosk-entre-a"
    assert config.location == "Entré A, Testsjukhuset"
    assert config.card_service.client_key == tmp_path / "device.key"
    assert config.card_service.outbox == tmp_path / "outcomes.sqlite3"  # the state folder's
    assert config.trust_anchors == (tmp_path / "siths-trust.pem",)
    assert config.telemetry is not None
    assert config.telemetry.site == "Testsjukhuset"
    assert config.telemetry.host_and_port == ("broker.example.org", 8883)


def test_keys_the_technician_set_are_kept_and_configure_changes_the_place(tmp_path):
    path = tmp_path / "kiosk.toml"
    path.write_text('[kiosk]\nlanguage = "en"\n\n[timeouts]\npin = 120.0\n')
    kiosk_file.write(path, provisioned(tmp_path))
    kiosk_file.set_place(path, site="Annat sjukhus", location="Entré C")
    config = parse(path.read_text())
    assert config.language == "en"
    assert config.timeouts.pin == 120.0
    assert config.location == "Entré C"
    assert config.telemetry is not None
    assert config.telemetry.site == "Annat sjukhus"
    assert kiosk_file.place(path) == ("kiosk-entre-a", "Annat sjukhus", "Entré C")
