"""Fixtures for the kiosk's telemetry: certificates, a private Mosquitto, the fleet's ears."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sim.dev_pki import DevPkiFiles, write_dev_pki
from tests.harness.cardservice import KIOSK_ID
from tests.harness.fleet_listener import FleetListener
from tests.harness.mosquitto import FLEET_ID, OTHER_FLEET_ID, Mosquitto

TELEMETRY_KIOSKS = ("kiosk-a", "kiosk-b", KIOSK_ID)


@pytest.fixture(scope="session")
def broker_pki(tmp_path_factory) -> DevPkiFiles:
    """Device certificates for three kiosks and the fleet, and the servers' certificate.

    A card service started on these (``CardServiceHarness(..., broker_pki, ...)``) and the
    broker trust the same device CA, so one kiosk uses one certificate for both.
    """
    folder = tmp_path_factory.mktemp("broker-pki")
    return write_dev_pki(folder, [*TELEMETRY_KIOSKS, FLEET_ID, OTHER_FLEET_ID])


@pytest.fixture
def broker(tmp_path, broker_pki) -> Iterator[Mosquitto]:
    """A fresh Mosquitto with TLS, client certificates and the ACL of docs/telemetry.md."""
    server = Mosquitto(tmp_path / "broker", broker_pki).start()
    yield server
    server.stop()


@pytest.fixture
def fleet(broker, broker_pki) -> Iterator[FleetListener]:
    """The fleet's side: sees every kiosk's messages, sends commands."""
    listener = FleetListener(
        broker.port,
        broker_pki.service_ca,
        broker_pki.kiosk_cert(FLEET_ID),
        broker_pki.kiosk_key(FLEET_ID),
    )
    yield listener
    listener.stop()
