"""Liveness and alerts in the database (SQLite and PostgreSQL): a silent kiosk goes
offline without a will; each alert is raised once and cleared once, and told once per
channel, even when two instances look at the same moment."""

from __future__ import annotations

import threading

from sqlalchemy import select

from fleet import schema, views
from fleet.alerts import Thresholds
from fleet.liveness import SILENT, heartbeat_timeout
from fleet.watch import Watcher
from tests.fleet.messages import T0, birth, event, health, reading

NOW = T0.timestamp()
CHANNELS = ("email", "webhook")


def notifications(store) -> list[tuple[str, str, str]]:
    n, a = schema.notifications, schema.alerts
    with store.reading() as db:
        rows = db.execute(
            select(a.c.kind, n.c.transition, n.c.channel).join(a, a.c.id == n.c.alert_id)
        )
        return sorted(tuple(row) for row in rows)


def test_a_kiosk_that_falls_silent_is_offline_without_its_will(store):
    store.ingest([reading(birth(health_interval=5.0)), reading(health(seconds=1))])
    watcher = Watcher(store, Thresholds(offline_after=60), CHANNELS)
    watcher.look(NOW + heartbeat_timeout(5.0) - 1)
    assert views.fleet(store, NOW)["counts"]["offline"] == 0
    assert watcher.look(NOW + heartbeat_timeout(5.0) + 2).went_silent == 1
    kiosk = views.fleet(store, NOW)["kiosks"][0]
    assert (kiosk["status"], kiosk["status_reason"]) == ("offline", SILENT)
    store.ingest([reading(health(seq=2, seconds=40), received=NOW + 40)])  # it speaks again
    assert views.fleet(store, NOW)["kiosks"][0]["status"] == "online"


def test_an_alert_is_raised_once_and_cleared_once_however_often_it_is_seen(store):
    watcher = Watcher(store, Thresholds(), CHANNELS)
    store.ingest([reading(birth()), reading(health(seq=1, reader_present=False))])
    assert watcher.look(NOW).raised == 0  # one sample may be a kiosk still starting
    store.ingest([reading(health(seq=2, seconds=1, reader_present=False))])
    assert watcher.look(NOW).raised == 1
    for seq in range(3, 6):  # the same condition in every sample
        store.ingest([reading(health(seq=seq, seconds=seq, reader_present=False))])
        assert watcher.look(NOW + seq).raised == 0
    store.ingest([reading(health(seq=9, seconds=9))])
    assert watcher.look(NOW + 10).cleared == 1
    assert watcher.look(NOW + 11).cleared == 0
    assert notifications(store) == sorted(
        [("reader-missing", t, c) for t in ("raised", "cleared") for c in CHANNELS]
    )
    (alert,) = views.alerts(store)
    assert not alert["open"] and alert["kind"] == "reader-missing"


def test_offline_alerts_wait_their_minutes_and_health_alerts_keep_while_offline(store):
    limits = Thresholds(offline_after=300)
    watcher = Watcher(store, limits, CHANNELS)
    hot = [reading(health(seq=n, seconds=n, cpu_temperature_c=85.0)) for n in (1, 2)]
    store.ingest([reading(birth()), *hot])
    watcher.look(NOW + 3)
    store.ingest([reading(birth(seconds=10, state="lost"), received=NOW + 10)])
    watcher.look(NOW + 11)
    assert [a["kind"] for a in views.alerts(store, open_only=True)] == ["temperature"]
    watcher.look(NOW + 10 + 301)
    kinds = sorted(a["kind"] for a in views.alerts(store, open_only=True))
    assert kinds == ["offline", "temperature"]  # the old sample is neither cure nor news
    store.ingest([reading(birth(incarnation=2, seconds=400), received=NOW + 400)])
    store.ingest([reading(health(incarnation=2, seq=1, seconds=401))])
    watcher.look(NOW + 402)
    assert views.alerts(store, open_only=True) == []


SICK = {
    "cpu_temperature_c": 81.0,
    "clock_synchronised": False,
    "certificate_days_left": 12,
    "outbox_depth": 900,
    "throttling": {
        "under_voltage": True,
        "frequency_capped": False,
        "throttled": False,
        "soft_temperature_limit": False,
        "under_voltage_since_boot": True,
        "frequency_capped_since_boot": False,
        "throttled_since_boot": False,
        "soft_temperature_limit_since_boot": False,
    },
}


def test_every_kind_of_alert_from_the_kiosks_messages(store):
    store.ingest(
        [
            reading(birth()),
            *[reading(health(seq=seq, seconds=seq, **SICK)) for seq in (10, 11)],
            reading(event("out-of-service", seq=2, reason="card-service-down")),
            *[
                reading(event("unlock-failed", seq=n, outcome="not-unlocked", reason="wrong-puk"))
                for n in (3, 4, 5)
            ],
        ]
    )
    Watcher(store, Thresholds(), ()).look(NOW)
    kinds = sorted(a["kind"] for a in views.alerts(store, open_only=True))
    assert kinds == [
        "certificate-expiring",
        "clock-unsynchronised",
        "failed-unlocks",
        "out-of-service",
        "outbox-growing",
        "temperature",
        "throttling",
    ]


def test_maintenance_is_not_an_out_of_service_alert(store):
    store.ingest(
        [
            reading(birth(maintenance=True)),
            reading(event("out-of-service", seq=2, reason="kiosk-maintenance")),
        ]
    )
    Watcher(store, Thresholds(), ()).look(NOW)
    assert views.alerts(store) == []


def test_two_instances_looking_together_raise_and_tell_once(store):
    store.ingest([reading(birth(kiosk=f"kiosk-{n}")) for n in range(1, 5)])
    store.ingest(
        [
            reading(health(kiosk=f"kiosk-{n}", seq=seq, reader_present=False))
            for n in range(1, 5)
            for seq in (1, 2)
        ]
    )
    watchers = [Watcher(store, Thresholds(), CHANNELS) for _ in range(2)]
    threads = [threading.Thread(target=w.look, args=(NOW,)) for w in watchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(views.alerts(store, open_only=True)) == 4
    assert len(notifications(store)) == 4 * len(CHANNELS)
