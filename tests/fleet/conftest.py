"""Fixtures for the fleet server: certificates, a private Mosquitto, the store on both
databases, a running fleet instance, and kiosks that publish as the contract says."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fleet.ingest import BrokerSettings
from fleet.server import FleetServer, ServerSettings
from fleet.store import Store
from sim.dev_pki import DevPkiFiles, write_dev_pki
from tests.fleet.kiosk_voice import KioskVoice
from tests.harness.mosquitto import FLEET_ID, OTHER_FLEET_ID, Mosquitto

FLEET_KIOSKS = ("kiosk-1", "kiosk-2", "kiosk-3", "kiosk-4")


@pytest.fixture(scope="session")
def fleet_pki(tmp_path_factory) -> DevPkiFiles:
    """Device certificates for four kiosks and two fleet instances (one name each)."""
    folder = tmp_path_factory.mktemp("fleet-pki")
    return write_dev_pki(folder, [*FLEET_KIOSKS, FLEET_ID, OTHER_FLEET_ID])


@pytest.fixture
def fleet_broker(tmp_path, fleet_pki) -> Iterator[Mosquitto]:
    """A fresh Mosquitto with the ACL of docs/telemetry.md."""
    server = Mosquitto(tmp_path / "broker", fleet_pki).start()
    yield server
    server.stop()


@pytest.fixture
def store_url(tmp_path, database_url) -> str:
    """A fresh database: SQLite in the test's folder, then PostgreSQL."""
    return database_url or f"sqlite:///{tmp_path / 'fleet.sqlite3'}"


@pytest.fixture
def store(store_url) -> Iterator[Store]:
    """The fleet's store, migrated, on SQLite and on PostgreSQL."""
    opened = Store(store_url)
    yield opened
    opened.close()


def broker_settings(
    broker: Mosquitto, pki: DevPkiFiles, instance: str = "1", identity: str = FLEET_ID
) -> BrokerSettings:
    """How an instance reaches the test broker (two instances need two identities: the
    broker takes the certificate's name as the client id)."""
    return BrokerSettings(
        "127.0.0.1",
        broker.port,
        pki.service_ca,
        pki.kiosk_cert(identity),
        pki.kiosk_key(identity),
        instance=instance,
    )


def start_fleet(store: Store, broker: Mosquitto, pki: DevPkiFiles, **options) -> FleetServer:
    """One fleet instance on a free port, connected and subscribed."""
    settings = ServerSettings(
        broker=broker_settings(
            broker, pki, options.pop("instance", "1"), options.pop("identity", FLEET_ID)
        ),
        port=0,
        look_interval=options.pop("look_interval", 0.2),
        stream_poll=0.2,
        **options,
    )
    server = FleetServer(settings, store).start()
    assert server.ingest.wait_ready(15), "the fleet did not subscribe"
    return server


@pytest.fixture
def voice(fleet_broker, fleet_pki) -> Iterator:
    """Make kiosks that publish contract messages: ``voice("kiosk-1")``."""
    made: list[KioskVoice] = []

    def make(kiosk: str) -> KioskVoice:
        speaker = KioskVoice(kiosk, fleet_broker.port, fleet_pki)
        made.append(speaker)
        return speaker

    yield make
    for speaker in made:
        speaker.stop()
