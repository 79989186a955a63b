"""Writing what ingest reads: one transaction per batch, every event once.

A batch (whatever queued up since the last one, up to a limit) is written in one
transaction: health rows and events in bulk, each kiosk's row locked, folded
(:mod:`fleet.fold`) and written back once. Events go in with
``INSERT ... ON CONFLICT DO NOTHING`` on (kiosk, id), so a repeat, from the kiosk's
outbox or through another fleet instance, is dropped by the database itself, and
only events stored now change the counters. Ingest acknowledges the batch to the
broker after the commit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from fleet import schema
from fleet.database import migrate, open_engine
from fleet.fold import KioskRow, columns, fold, is_failure
from fleet.reading import Reading
from protocol import telemetry as tm

_KIOSK_COLUMNS = [field.name for field in dataclasses.fields(KioskRow)]


@dataclass(frozen=True)
class Stored:
    """What one batch added: new events, repeats dropped, health samples."""

    events: int = 0
    repeats: int = 0
    health: int = 0
    states: int = 0


def day_in(zone: ZoneInfo) -> Callable[[float], str]:
    """The local date of a moment (the dashboard's "today" is the facility's day)."""
    return lambda at: dt.datetime.fromtimestamp(at, zone).date().isoformat()


class Store:
    """The fleet's database, migrated on opening."""

    def __init__(
        self, url: str | Path, *, pool_size: int = 8, zone: ZoneInfo | None = None
    ) -> None:
        self.engine = open_engine(url, pool_size=pool_size)
        self.dialect = self.engine.dialect.name
        self.zone = zone or ZoneInfo("UTC")
        self.day = day_in(self.zone)
        migrate(self.engine)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One atomic change."""
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A consistent read without a write lock."""
        with self.engine.connect() as connection:
            connection = connection.execution_options(read_only=True)
            with connection.begin():
                yield connection

    def insert(self, table: schema.Table) -> sqlite.Insert | postgresql.Insert:
        """The dialect's own INSERT, which knows ON CONFLICT."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # -- ingest --------------------------------------------------------------------------

    def ingest(self, batch: Sequence[tuple[Reading, bytes]]) -> Stored:
        """Store one batch of valid messages (in arrival order) in one transaction."""
        if not batch:
            return Stored()
        with self.transaction() as db:
            rows = self._lock_kiosks(db, sorted({r.kiosk for r, _ in batch}), batch[0][0].received)
            before = dict(rows)
            health = [(r, p) for r, p in batch if isinstance(r.message, tm.HealthMessage)]
            self._insert_health(db, [r for r, _ in health])
            new_events = self._insert_events(db, [r for r, _ in batch if _is_event(r)])
            pending = set(new_events)  # each new event folds once, even if repeated in the batch
            fresh_events: list[tm.EventMessage] = []
            for reading, payload in batch:
                message = reading.message
                fresh = True
                if isinstance(message, tm.EventMessage):
                    fresh = (message.kiosk, message.id) in pending
                    pending.discard((message.kiosk, message.id))
                    if fresh:
                        fresh_events.append(message)
                rows[reading.kiosk] = fold(
                    rows[reading.kiosk],
                    reading,
                    payload=payload.decode() if isinstance(message, tm.HealthMessage) else "",
                    new_event=fresh,
                )
            self._write_kiosks(db, before, rows, batch[-1][0].received)
            events = [r for r, _ in batch if _is_event(r)]
            self._count_unlocks(db, fresh_events)
            self._commands_done(db, fresh_events, batch[-1][0].received)
        return Stored(
            events=len(new_events),
            repeats=len(events) - len(new_events),
            health=len(health),
            states=sum(isinstance(r.message, tm.StateMessage) for r, _ in batch),
        )

    def _lock_kiosks(self, db: Connection, ids: list[str], now: float) -> dict[str, KioskRow]:
        """The batch's kiosks' rows, created if new, locked until the commit (in id order)."""
        query = (
            select(*(schema.kiosks.c[name] for name in _KIOSK_COLUMNS))
            .where(schema.kiosks.c.kiosk_id.in_(ids))
            .order_by(schema.kiosks.c.kiosk_id)
        )
        if self.dialect == "postgresql":
            query = query.with_for_update()
        rows = {row.kiosk_id: KioskRow(**row._asdict()) for row in db.execute(query)}
        new = [kiosk for kiosk in ids if kiosk not in rows]
        if new:  # another instance may make the same one meanwhile: then it is read, locked
            self._execute_many(
                db,
                self.insert(schema.kiosks).on_conflict_do_nothing(index_elements=["kiosk_id"]),
                [columns(KioskRow.first_seen(kiosk, now)) for kiosk in new],
            )
            rows.update(
                {
                    row.kiosk_id: KioskRow(**row._asdict())
                    for row in db.execute(query.where(schema.kiosks.c.kiosk_id.in_(new)))
                }
            )
        return rows

    def _write_kiosks(
        self, db: Connection, before: dict[str, KioskRow], after: dict[str, KioskRow], now: float
    ) -> None:
        changed = []
        for kiosk, row in after.items():
            if row != before[kiosk]:
                values = columns(row)
                values.update(updated=now, key=values.pop("kiosk_id"))
                changed.append(values)
        if changed:
            # The SET clause is every column in the parameters (all but the key).
            statement = update(schema.kiosks).where(schema.kiosks.c.kiosk_id == bindparam("key"))
            db.execute(statement, changed)

    def _insert_health(self, db: Connection, readings: list[Reading]) -> None:
        rows = []
        for reading in readings:
            h: tm.HealthMessage = reading.message  # type: ignore[assignment]
            throttled = None
            if h.throttling is not None:
                t = h.throttling
                throttled = (
                    t.throttled or t.under_voltage or t.frequency_capped or t.soft_temperature_limit
                )
            rows.append(
                {
                    "kiosk_id": h.kiosk,
                    "at": h.at.timestamp(),
                    "incarnation": h.incarnation,
                    "seq": h.seq,
                    "uptime_s": h.uptime_s,
                    "load1": h.load1,
                    "memory_available_mb": h.memory_available_mb,
                    "disk_free_mb": h.disk_free_mb,
                    "cpu_temperature_c": h.cpu_temperature_c,
                    "card_service_latency_ms": h.card_service_latency_ms,
                    "outbox_depth": h.outbox_depth,
                    "reader_present": h.reader_present,
                    "card_service_up": h.card_service_up,
                    "throttled": throttled,
                }
            )
        self._execute_many(
            db,
            self.insert(schema.health).on_conflict_do_nothing(
                index_elements=["kiosk_id", "incarnation", "seq"]
            ),
            rows,
        )

    def _insert_events(self, db: Connection, readings: list[Reading]) -> set[tuple[str, str]]:
        """Insert the events; the (kiosk, id) of those that were not there yet."""
        rows, seen = [], set()
        for reading in readings:
            e: tm.EventMessage = reading.message  # type: ignore[assignment]
            if (e.kiosk, e.id) in seen:
                continue  # the same event twice in one batch
            seen.add((e.kiosk, e.id))
            rows.append(
                {
                    "kiosk_id": e.kiosk,
                    "id": e.id,
                    "at": e.at.timestamp(),
                    "received": reading.received,
                    "incarnation": e.incarnation,
                    "seq": e.seq,
                    "kind": str(e.kind),
                    "session": e.session,
                    "card": e.card,
                    "reason": e.reason,
                    "outcome": None if e.outcome is None else str(e.outcome),
                    "mechanism": e.mechanism,
                    "tries_left": e.tries_left,
                    "duration_s": e.duration_s,
                    "detail": e.detail,
                }
            )
        if not rows:
            return set()
        statement = (
            self.insert(schema.events)
            .on_conflict_do_nothing(index_elements=["kiosk_id", "id"])
            .returning(schema.events.c.kiosk_id, schema.events.c.id)
        )
        if self.dialect == "postgresql":
            return _returning_many(db, statement, rows)
        return {(row.kiosk_id, row.id) for row in db.execute(statement, rows)}

    def _count_unlocks(self, db: Connection, events: list[tm.EventMessage]) -> None:
        counts: dict[tuple[str, str], list[int]] = {}
        for event in events:
            succeeded = event.kind is tm.EventKind.UNLOCK_SUCCEEDED
            if succeeded or is_failure(event):
                count = counts.setdefault((event.kiosk, self.day(event.at.timestamp())), [0, 0])
                count[0 if succeeded else 1] += 1
        if not counts:
            return
        statement = self.insert(schema.daily)
        statement = statement.on_conflict_do_update(
            index_elements=["kiosk_id", "day"],
            set_={
                "succeeded": schema.daily.c.succeeded + statement.excluded.succeeded,
                "failed": schema.daily.c.failed + statement.excluded.failed,
            },
        )
        rows = [
            {"kiosk_id": kiosk, "day": day, "succeeded": s, "failed": f}
            for (kiosk, day), (s, f) in sorted(counts.items())
        ]
        db.execute(statement, rows)

    def _commands_done(self, db: Connection, events: list[tm.EventMessage], now: float) -> None:
        """A ``command-done`` event (detail: ``<command> <id>``) completes its audit row."""
        done = [
            {"command": e.detail.split()[-1], "kiosk": e.kiosk, "done": e.at.timestamp()}
            for e in events
            if e.kind is tm.EventKind.COMMAND_DONE and e.detail
        ]
        if done:
            audit = schema.audit
            db.execute(
                update(audit)
                .where(audit.c.command_id == bindparam("command"))
                .where(audit.c.kiosk_id == bindparam("kiosk"))
                .where(audit.c.done_at.is_(None))
                .values(done_at=bindparam("done")),
                done,
            )

    @staticmethod
    def _execute_many(db: Connection, statement: object, rows: list[dict]) -> None:
        if rows:
            db.execute(statement, rows)  # type: ignore[call-overload]


def _returning_many(db: Connection, statement: object, rows: list[dict]) -> set[tuple[str, str]]:
    """PostgreSQL: one statement, many rows, the rows it returned, through psycopg's pipeline.

    SQLAlchemy would send one INSERT with a VALUES list per page of rows, a statement so
    long that psycopg parses it afresh each time (most of a batch's time at thousands of
    messages a second); psycopg's ``executemany(..., returning=True)`` sends the short
    statement once per row in a pipeline, in the same transaction.
    """
    compiled = statement.compile(dialect=db.dialect, column_keys=list(rows[0]))  # type: ignore[attr-defined]
    cursor = db.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(str(compiled), rows, returning=True)
        found: set[tuple[str, str]] = set()
        while True:
            found.update((kiosk, event) for kiosk, event in cursor.fetchall())
            if not cursor.nextset():
                return found
    finally:
        cursor.close()


def _is_event(reading: Reading) -> bool:
    return isinstance(reading.message, tm.EventMessage)
