"""Keeping the database's size bounded: health history thinned, then expired; old events go.

Health samples are kept as sent for ``health_full_days``; after that one sample per
kiosk per hour is kept (the first of the hour) until ``health_days``; then none.
Events, cleared alerts, their notifications, daily counts and the audit are kept for
``events_days``. Each run thins only the last two days' worth before the full-detail
cutoff (hour-aligned), so a run costs the same whatever the database's age.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Integer, and_, cast, delete, func, select

from fleet import schema
from fleet.store import Store

log = logging.getLogger(__name__)

DAY = 86400.0
HOUR = 3600.0


@dataclass(frozen=True)
class Retention:
    """How long things are kept (``kiosk-fleet serve`` options)."""

    health_full_days: float = 7.0
    health_days: float = 90.0
    events_days: float = 365.0


@dataclass(frozen=True)
class Swept:
    """What one run removed."""

    health_thinned: int = 0
    health_expired: int = 0
    events_expired: int = 0


def sweep(store: Store, policy: Retention, now: float) -> Swept:
    """Thin and expire, in one transaction."""
    h = schema.health
    full_cutoff = (now - policy.health_full_days * DAY) // HOUR * HOUR
    window = full_cutoff - 2 * DAY
    events_cutoff = now - policy.events_days * DAY
    day_cutoff = store.day(events_cutoff)
    with store.transaction() as db:
        in_window = and_(h.c.at >= window, h.c.at < full_cutoff)
        keep = (
            select(func.min(h.c.id))
            .where(in_window)
            .group_by(h.c.kiosk_id, cast(func.floor(h.c.at / HOUR), Integer))
        )
        thinned = db.execute(delete(h).where(in_window).where(h.c.id.not_in(keep))).rowcount
        expired = db.execute(delete(h).where(h.c.at < now - policy.health_days * DAY)).rowcount
        events = db.execute(
            delete(schema.events).where(schema.events.c.at < events_cutoff)
        ).rowcount
        a, n = schema.alerts, schema.notifications
        old_alerts = select(a.c.id).where(a.c.cleared_at < events_cutoff)
        db.execute(delete(n).where(n.c.alert_id.in_(old_alerts)))
        db.execute(delete(a).where(a.c.cleared_at < events_cutoff))
        db.execute(delete(schema.daily).where(schema.daily.c.day < day_cutoff))
        db.execute(delete(schema.audit).where(schema.audit.c.at < events_cutoff))
    swept = Swept(int(thinned or 0), int(expired or 0), int(events or 0))
    if swept != Swept():
        log.info("retention: %s", swept)
    return swept
