"""The self-test reads what it needs from the kiosk's own kiosk.toml (written by the kiosk's
renderer), and names the key when something it needs is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import parse as kiosk_parse
from kiosk.config import render
from provisioning.selftest.target import (
    DEFAULT_STATE_DIR,
    Endpoint,
    TargetError,
    load,
    parse,
)


def rendered(telemetry: dict | None) -> str:
    return render(
        kiosk_id="kiosk-entre-a",
        location="Entré A",
        url="https://cardservice.example.org:8443/",
        ca_file=Path("/etc/siths-kiosk/cardservice-ca.pem"),
        client_cert=Path("/var/lib/siths-kiosk/device.pem"),
        client_key=Path("/var/lib/siths-kiosk/device.key"),
        trust_anchors=[Path("/etc/siths-kiosk/root.pem"), Path("/etc/siths-kiosk/issuing.pem")],
        telemetry=telemetry,
    )


def test_a_configuration_rendered_by_the_kiosk_is_read_as_the_kiosk_reads_it():
    text = rendered(
        {
            "broker": "mqtts://broker.example.org",
            "ca_file": Path("/etc/siths-kiosk/broker-ca.pem"),
            "card_hash_key_file": Path("/etc/siths-kiosk/card-hash.key"),
            "outbox": Path("/srv/kiosk-state/telemetry.sqlite3"),
            "site": "Sjukhuset",
        }
    )
    kiosk = kiosk_parse(text)
    target = parse(text)
    assert target.kiosk_id == kiosk.kiosk_id == "kiosk-entre-a"
    assert target.site == "Sjukhuset"
    assert target.card_service_url == kiosk.card_service.url
    assert target.card_service == Endpoint("cardservice.example.org", 8443)
    assert target.card_service_ca == kiosk.card_service.ca_file
    assert (target.client_cert, target.client_key) == (
        kiosk.card_service.client_cert,
        kiosk.card_service.client_key,
    )
    assert target.trust_anchors == kiosk.trust_anchors
    assert target.apdu_timeout == kiosk.apdu_timeout
    assert target.broker is not None and kiosk.telemetry is not None
    assert (target.broker.endpoint.host, target.broker.endpoint.port) == (
        kiosk.telemetry.host_and_port
    )
    assert target.broker.ca_file == kiosk.telemetry.ca_file
    assert target.state_dir == Path("/srv/kiosk-state")


def test_without_telemetry_there_is_no_broker_and_the_default_state_folder():
    target = parse(rendered(None))
    assert target.broker is None and target.site == ""
    assert target.state_dir == DEFAULT_STATE_DIR


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[kiosk]\nid = 'k'\n", "card_service.url: missing"),
        ("not toml [", "not valid TOML"),
        (
            "[kiosk]\nid='k'\n[card_service]\nurl='http://x'\n",
            "card_service.url: must be an https:// address",
        ),
    ],
)
def test_what_is_missing_or_wrong_is_named(text, named):
    with pytest.raises(TargetError, match=named):
        parse(text)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(TargetError, match=r"kiosk\.toml: no such file"):
        load(tmp_path / "kiosk.toml")
