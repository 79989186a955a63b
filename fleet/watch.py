"""The fleet's periodic look: silent kiosks marked offline, alerts raised and cleared.

Every instance may run it: each change is a conditional write (a kiosk is marked
offline only if it is not already; an alert is raised only if none of its kind is
open, the database's partial unique index decides a race; it is cleared only if
still open), and the notifications to send are written in the same transaction as
the change they tell of, by whichever instance made it. So each raise and each
clear is told once, however many instances look.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, func, or_, select, update

from fleet import liveness, schema
from fleet.alerts import AlertKind, KioskFacts, Thresholds, changes, wanted
from fleet.store import Store

log = logging.getLogger(__name__)

#: How long before the last look a kiosk must have changed to be looked at again (s).
_OVERLAP = 2.0


@dataclass(frozen=True)
class Looked:
    """What one look changed."""

    went_silent: int = 0
    raised: int = 0
    cleared: int = 0


def mark_silent(db: Connection, now: float) -> int:
    """Kiosks past their heartbeat timeout become offline (the will may never come)."""
    k = schema.kiosks
    interval = func.coalesce(k.c.health_interval, liveness.DEFAULT_HEALTH_INTERVAL)
    timeout = interval * liveness.HEARTBEAT_MISSES + liveness.HEARTBEAT_SLACK
    result = db.execute(
        update(k)
        .where(k.c.status != liveness.Status.OFFLINE)
        .where(k.c.last_seen + timeout < now)
        .values(
            status=str(liveness.Status.OFFLINE),
            status_reason=liveness.SILENT,
            status_since=now,
            updated=now,
        )
    )
    return int(result.rowcount or 0)


def _open_alerts(db: Connection, kiosks: list[str]) -> dict[str, dict[AlertKind, tuple[int, str]]]:
    a = schema.alerts
    found: dict[str, dict[AlertKind, tuple[int, str]]] = {}
    for start in range(0, len(kiosks), 500):
        rows = db.execute(
            select(a.c.id, a.c.kiosk_id, a.c.kind, a.c.detail)
            .where(a.c.cleared_at.is_(None))
            .where(a.c.kiosk_id.in_(kiosks[start : start + 500]))
        )
        for row in rows:
            found.setdefault(row.kiosk_id, {})[AlertKind(row.kind)] = (row.id, row.detail or "")
    return found


def _notify(
    db: Connection, alert_id: int, transition: str, channels: Sequence[str], now: float
) -> None:
    if channels:
        db.execute(
            schema.notifications.insert(),
            [
                {"alert_id": alert_id, "transition": transition, "channel": c, "created": now}
                for c in channels
            ],
        )


def raise_alert(
    store: Store,
    db: Connection,
    kiosk: str,
    kind: AlertKind,
    detail: str,
    now: float,
    channels: Sequence[str],
) -> bool:
    """Open an alert unless one of its kind is open; whether this call opened it."""
    a = schema.alerts
    statement = (
        store.insert(a)
        .values(kiosk_id=kiosk, kind=str(kind), detail=detail, raised_at=now, changed=now)
        .on_conflict_do_nothing(
            index_elements=["kiosk_id", "kind"], index_where=a.c.cleared_at.is_(None)
        )
        .returning(a.c.id)
    )
    alert_id = db.execute(statement).scalar()
    if alert_id is None:
        return False
    _notify(db, alert_id, "raised", channels, now)
    return True


def clear_alert(db: Connection, alert_id: int, now: float, channels: Sequence[str]) -> bool:
    """Close an open alert; whether this call closed it."""
    a = schema.alerts
    result = db.execute(
        update(a)
        .where(and_(a.c.id == alert_id, a.c.cleared_at.is_(None)))
        .values(cleared_at=now, changed=now)
    )
    if not result.rowcount:
        return False
    _notify(db, alert_id, "cleared", channels, now)
    return True


class Watcher:
    """One look at a time; remembers when it last looked, to look at what changed since."""

    def __init__(self, store: Store, limits: Thresholds, channels: Sequence[str] = ()) -> None:
        self.store = store
        self.limits = limits
        self.channels = tuple(channels)
        self._since = 0.0

    def look(self, now: float) -> Looked:
        """Mark silent kiosks, then raise and clear alerts, in one transaction."""
        k = schema.kiosks
        with self.store.transaction() as db:
            silent = mark_silent(db, now)
            rows = db.execute(
                select(
                    k.c.kiosk_id,
                    k.c.status,
                    k.c.status_since,
                    k.c.status_reason,
                    k.c.out_of_service,
                    k.c.failed_run,
                    k.c.last_health,
                    k.c.prior_health,
                ).where(
                    or_(
                        k.c.updated >= self._since - _OVERLAP,
                        k.c.status == liveness.Status.OFFLINE,
                        k.c.kiosk_id.in_(
                            select(schema.alerts.c.kiosk_id).where(
                                schema.alerts.c.cleared_at.is_(None)
                            )
                        ),
                    )
                )
            ).all()
            open_alerts = _open_alerts(db, [row.kiosk_id for row in rows])
            raised = cleared = 0
            for row in rows:
                facts = KioskFacts(**row._asdict())
                current = open_alerts.get(row.kiosk_id, {})
                texts = {kind: detail for kind, (_, detail) in current.items()}
                to_raise, to_clear = changes(texts, wanted(facts, texts, self.limits, now))
                for kind, detail in to_raise.items():
                    raised += raise_alert(
                        self.store, db, row.kiosk_id, kind, detail, now, self.channels
                    )
                for kind in to_clear:
                    cleared += clear_alert(db, current[kind][0], now, self.channels)
        self._since = now
        if silent or raised or cleared:
            log.info("look: %d went silent, %d alerts raised, %d cleared", silent, raised, cleared)
        return Looked(silent, raised, cleared)
