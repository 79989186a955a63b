"""The fleet's store on SQLite and on a private PostgreSQL: every event once, state by
incarnation, unlock counts, the schema Alembic makes, retention."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text

from fleet import schema, views
from fleet.database import MigrationError, current_revision, head_revision
from fleet.retention import DAY, HOUR, Retention, sweep
from fleet.store import Store
from tests.fleet.messages import T0, birth, event, health, reading

NOW = T0.timestamp()


def kiosk_row(store: Store, kiosk: str = "kiosk-1"):
    with store.reading() as db:
        return db.execute(select(schema.kiosks).where(schema.kiosks.c.kiosk_id == kiosk)).one()


def test_the_migrated_database_is_the_schema_the_code_names(store):
    with store.engine.connect() as db:
        assert compare_metadata(MigrationContext.configure(db), schema.metadata) == []
    assert current_revision(store.engine) == head_revision()


def test_instances_starting_together_migrate_once_and_a_newer_database_is_refused(store_url):
    errors = []

    def open_one() -> None:
        try:
            Store(store_url).close()
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    opened = Store(store_url)
    with opened.transaction() as db:
        db.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    opened.close()
    with pytest.raises(MigrationError, match="newer than this program"):
        Store(store_url)


def test_every_event_is_stored_once_however_often_it_arrives(store):
    unlock = event("unlock-succeeded", seq=2, outcome="unlocked", mechanism="puk")
    failed = event("unlock-failed", seq=3, outcome="not-unlocked", reason="wrong-puk")
    first = store.ingest([reading(birth()), reading(unlock), reading(unlock), reading(failed)])
    again = store.ingest([reading(unlock), reading(failed)])
    assert (first.events, first.repeats) == (2, 1)
    assert (again.events, again.repeats) == (0, 2)
    stored = views.events(store, kiosk="kiosk-1")
    assert sorted(e["kind"] for e in stored) == ["unlock-failed", "unlock-succeeded"]
    today = views.fleet(store, NOW)["kiosks"][0]["unlocks_today"]
    assert today == {"succeeded": 1, "failed": 1}  # counted once each


def test_a_will_from_an_older_run_changes_nothing(store):
    store.ingest([reading(birth(incarnation=2, seconds=10))])
    store.ingest([reading(birth(incarnation=1, seconds=20, state="lost"))])  # late, old run
    row = kiosk_row(store)
    assert (row.status, row.incarnation) == ("online", 2)
    store.ingest([reading(birth(incarnation=2, seconds=30, state="lost"))])
    row = kiosk_row(store)
    assert row.status == "offline" and "will" in row.status_reason


def test_a_clean_stop_then_a_new_run(store):
    store.ingest(
        [reading(birth(incarnation=1)), reading(birth(incarnation=1, seconds=5, state="offline"))]
    )
    assert kiosk_row(store).status_reason == "stopped cleanly"
    store.ingest([reading(birth(incarnation=2, seconds=9, maintenance=True))])
    assert kiosk_row(store).status == "maintenance"


def test_out_of_service_follows_the_kiosks_own_order_and_a_new_run_starts_in_service(store):
    out = event("out-of-service", seq=5, reason="no-reader", detail="no-reader")
    back = event("back-in-service", seq=4)  # older, delivered later
    store.ingest([reading(birth()), reading(out), reading(back)])
    assert kiosk_row(store).out_of_service == "no-reader"
    store.ingest([reading(birth(incarnation=2, seconds=60))])
    assert kiosk_row(store).out_of_service is None


def test_a_run_of_failed_unlocks_is_counted_and_a_success_ends_it(store):
    fails = [
        reading(event("unlock-failed", seq=n, outcome="not-unlocked", reason="wrong-puk"))
        for n in range(1, 4)
    ]
    partly = reading(event("unlock-failed", seq=4, outcome="unlocked", reason="partly-unlocked"))
    store.ingest([reading(birth()), *fails, partly])
    assert kiosk_row(store).failed_run == 3  # partly unlocked is not a failure
    store.ingest([reading(event("unlock-succeeded", seq=9, outcome="unlocked"))])
    assert kiosk_row(store).failed_run == 0


def test_health_keeps_the_newest_sample_and_every_sample_once(store):
    newer, older = health(seq=2, seconds=60, cpu_temperature_c=70.0), health(seq=1, seconds=0)
    store.ingest([reading(birth()), reading(newer), reading(older), reading(older)])
    assert views.fleet(store, NOW)["kiosks"][0]["temperature_c"] == 70.0
    detail = views.kiosk(store, "kiosk-1", NOW + 120)
    assert detail["series"]["cpu_temperature_c"] == [None, 70.0]  # in time order, no repeat


def test_retention_thins_old_health_to_one_an_hour_then_expires_it_and_old_events(store):
    policy = Retention(health_full_days=1, health_days=3, events_days=2)
    samples = [
        reading(health(seq=n, seconds=-1.5 * DAY + n * 600)) for n in range(12)
    ]  # two hours of samples, a day and a half ago
    ancient = [reading(health(seq=100, seconds=-4 * DAY))]
    old_event = reading(event("session-started", seq=101, seconds=-3 * DAY))
    new_event = reading(event("session-started", seq=102, seconds=-60))
    store.ingest([reading(birth()), *samples, *ancient, old_event, new_event])
    swept = sweep(store, policy, NOW)
    with store.reading() as db:
        kept = db.execute(select(schema.health.c.at).order_by(schema.health.c.at)).scalars().all()
    hours = {int(t // HOUR) for t in kept}
    assert len(kept) == len(hours) == 2  # one an hour; the four-day-old one gone
    assert swept.health_expired == 1 and swept.events_expired == 1
    assert [e["id"] for e in views.events(store)] == [new_event[0].message.id]
