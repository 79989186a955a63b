"""Ingest through a real Mosquitto: two instances on one shared subscription store every
event exactly once; malformed telemetry is rejected, counted and logged, and ingest goes on."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import func, select

from fleet import schema, views
from fleet.metrics import Metrics
from protocol import telemetry as tm
from tests.fleet.conftest import start_fleet
from tests.harness.mosquitto import OTHER_FLEET_ID
from tests.harness.waiting import wait_for


def stored_events(store) -> list[tuple[str, str]]:
    with store.reading() as db:
        return db.execute(select(schema.events.c.kiosk_id, schema.events.c.id)).all()


def sample(metrics: Metrics, name: str, **labels) -> float:
    return metrics.registry.get_sample_value(name, labels or None) or 0.0


def test_two_instances_on_one_shared_subscription_store_every_event_once(
    store, fleet_broker, fleet_pki, voice
):
    one = start_fleet(store, fleet_broker, fleet_pki, instance="one")
    two = start_fleet(store, fleet_broker, fleet_pki, instance="two", identity=OTHER_FLEET_ID)
    try:
        kiosks = [voice(f"kiosk-{n}") for n in (1, 2, 3)]
        sent = []
        for kiosk in kiosks:
            kiosk.birth()
        for round_ in range(60):
            for kiosk in kiosks:
                message = kiosk.event("session-started", detail=f"round {round_}")
                sent.append((kiosk.kiosk, message.id))
                if round_ % 6 == 0:
                    kiosk.resend(message)  # a lost PUBACK: the same event again
        wait_for(lambda: len(stored_events(store)) >= len(sent), timeout=30, what="every event")
        repeats = 30
        wait_for(
            lambda: (
                sum(sample(s.metrics, "fleet_events_repeated_total") for s in (one, two)) >= repeats
            ),
            timeout=15,
            what="the repeats to be seen",
        )
        stored = stored_events(store)
        assert sorted(stored) == sorted(sent)  # each once, none missing
        shares = [sample(s.metrics, "fleet_events_stored_total") for s in (one, two)]
        assert sum(shares) == len(sent) and min(shares) > 0  # both instances did a share
        for server in (one, two):  # both read every retained state
            wait_for(
                lambda server=server: (
                    sample(server.metrics, "fleet_messages_received_total", channel="state") >= 3
                ),
                timeout=10,
                what="the states",
            )
    finally:
        one.stop()
        two.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_malformed_telemetry_is_rejected_counted_logged_and_never_stops_ingest(
    store, fleet_broker, fleet_pki, voice, caplog
):
    server = start_fleet(store, fleet_broker, fleet_pki)
    kiosk = voice("kiosk-1")
    good = json.loads(tm.encode(kiosk.event("session-started")))
    wait_for(lambda: len(stored_events(store)) == 1, timeout=15, what="the first event")
    caplog.set_level(logging.WARNING, logger="fleet.ingest")
    bad = {
        "not-json": b"{this is not json",
        "wrong-schema": json.dumps({**good, "id": "other", "pin": "123456"}).encode(),
        "unknown-version": json.dumps({**good, "id": "later", "v": 2}).encode(),
        "too-large": json.dumps({**good, "detail": "x" * (2 * tm.MAX_PAYLOAD)}).encode(),
        "wrong-kiosk": json.dumps({**good, "id": "forged", "kiosk": "kiosk-2"}).encode(),
    }
    for payload in bad.values():
        kiosk.raw(tm.Channel.EVENT, payload)
    kiosk.raw(tm.Channel.HEALTH, b"\x00\x01garbage")
    last = kiosk.event("session-ended")  # after all that, ingest still works
    wait_for(
        lambda: last.id in {i for _, i in stored_events(store)}, timeout=15, what="the good event"
    )
    counted = {reason: 1 for reason in bad} | {"not-json": 2}  # the garbage health too
    for reason, count in counted.items():
        assert sample(server.metrics, "fleet_messages_rejected_total", reason=reason) == count
    assert len(stored_events(store)) == 2
    logged = caplog.text
    for reason in bad:
        assert f": {reason}:" in logged
    server.stop()
    assert views.fleet(store, 0)["total"] == 1  # no kiosk-2 made up from a forged message
    with store.reading() as db:
        assert db.execute(select(func.count()).select_from(schema.health)).scalar() == 0
