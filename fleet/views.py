"""What the dashboard, the JSON API and ``kiosk-fleet status|events|alerts`` show.

One function per view, returning plain JSON-ready data (times as RFC 3339 UTC), so
the web pages, the API and the command line cannot disagree. Reads only.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Connection, and_, desc, func, select

from fleet import schema
from fleet.liveness import Status
from fleet.store import Store

#: The status filter's values: the judged status, or "alerting" (any open alert).
STATUS_FILTERS = (*(str(s) for s in Status), "alerting")
#: Most rows one page of the fleet view returns.
PAGE = 500


def iso(moment: float | None) -> str | None:
    """Epoch seconds as RFC 3339 UTC with milliseconds."""
    if moment is None:
        return None
    text = dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _health(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _open_alert_counts(db: Connection):  # noqa: ANN202
    a = schema.alerts
    return (
        select(a.c.kiosk_id, func.count().label("alerts"))
        .where(a.c.cleared_at.is_(None))
        .group_by(a.c.kiosk_id)
        .subquery()
    )


def _kiosk_summary(row: Any) -> dict[str, Any]:
    sample = _health(row.last_health)
    return {
        "kiosk": row.kiosk_id,
        "site": row.site,
        "location": row.location,
        "status": row.status,
        "status_reason": row.status_reason,
        "status_since": iso(row.status_since),
        "last_seen": iso(row.last_seen),
        "software": row.software,
        "maintenance": bool(row.maintenance),
        "out_of_service": row.out_of_service,
        "temperature_c": sample.get("cpu_temperature_c"),
        "reader_present": sample.get("reader_present"),
        "card_service_up": sample.get("card_service_up"),
        "unlocks_today": {"succeeded": row.succeeded or 0, "failed": row.failed or 0},
        "open_alerts": row.alerts or 0,
    }


def fleet(
    store: Store,
    now: float,
    *,
    site: str | None = None,
    status: str | None = None,
    limit: int = PAGE,
    offset: int = 0,
) -> dict[str, Any]:
    """The fleet at a glance: counts by status, the sites, and one page of kiosks."""
    k, d = schema.kiosks, schema.daily
    with store.reading() as db:
        counts = _open_alert_counts(db)
        today = and_(d.c.kiosk_id == k.c.kiosk_id, d.c.day == store.day(now))
        query = (
            select(k, d.c.succeeded, d.c.failed, counts.c.alerts)
            .outerjoin(d, today)
            .outerjoin(counts, counts.c.kiosk_id == k.c.kiosk_id)
        )
        where = []
        if site:
            where.append(k.c.site == site)
        if status == "alerting":
            where.append(counts.c.alerts > 0)
        elif status:
            where.append(k.c.status == status)
        query = query.where(*where)
        total = db.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = db.execute(
            query.order_by(k.c.site, k.c.location, k.c.kiosk_id).limit(limit).offset(offset)
        ).all()
        by_status = dict(
            db.execute(select(k.c.status, func.count()).group_by(k.c.status)).all()  # type: ignore[arg-type]
        )
        alerting = db.execute(select(func.count()).select_from(counts)).scalar_one()
        sites = [s for (s,) in db.execute(select(k.c.site).distinct().order_by(k.c.site)) if s]
    return {
        "at": iso(now),
        "total": total,
        "counts": {**{str(s): by_status.get(str(s), 0) for s in Status}, "alerting": alerting},
        "sites": sites,
        "kiosks": [_kiosk_summary(row) for row in rows],
    }


def _event(row: Any) -> dict[str, Any]:
    fields = ("session", "card", "reason", "outcome", "mechanism", "tries_left", "duration_s")
    data = {"id": row.id, "kiosk": row.kiosk_id, "at": iso(row.at), "kind": row.kind}
    data.update({name: getattr(row, name) for name in fields if getattr(row, name) is not None})
    if row.detail is not None:
        data["detail"] = row.detail
    return data


def events(
    store: Store,
    *,
    kiosk: str | None = None,
    kind: str | None = None,
    card: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """The newest events first, optionally of one kiosk, kind or card hash."""
    e = schema.events
    query = select(e).order_by(desc(e.c.at)).limit(limit)
    if kiosk:
        query = query.where(e.c.kiosk_id == kiosk)
    if kind:
        query = query.where(e.c.kind == kind)
    if card:
        query = query.where(e.c.card == card)
    with store.reading() as db:
        return [_event(row) for row in db.execute(query)]


def _alert(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "kiosk": row.kiosk_id,
        "kind": row.kind,
        "detail": row.detail,
        "raised_at": iso(row.raised_at),
        "cleared_at": iso(row.cleared_at),
        "open": row.cleared_at is None,
        "site": row.site,
        "location": row.location,
    }


def alerts(
    store: Store, *, open_only: bool = False, kiosk: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Alerts, open ones first, then the newest."""
    a, k = schema.alerts, schema.kiosks
    query = (
        select(a, k.c.site, k.c.location)
        .outerjoin(k, k.c.kiosk_id == a.c.kiosk_id)
        .order_by(a.c.cleared_at.is_not(None), desc(a.c.raised_at))
        .limit(limit)
    )
    if open_only:
        query = query.where(a.c.cleared_at.is_(None))
    if kiosk:
        query = query.where(a.c.kiosk_id == kiosk)
    with store.reading() as db:
        return [_alert(row) for row in db.execute(query)]


def _audit(row: Any) -> dict[str, Any]:
    return {
        "at": iso(row.at),
        "user": row.user_name,
        "action": row.action,
        "kiosk": row.kiosk_id,
        "command_id": row.command_id,
        "detail": row.detail,
        "done_at": iso(row.done_at),
    }


def audit(store: Store, *, kiosk: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest audit entries first."""
    t = schema.audit
    query = select(t).order_by(desc(t.c.id)).limit(limit)
    if kiosk:
        query = query.where(t.c.kiosk_id == kiosk)
    with store.reading() as db:
        return [_audit(row) for row in db.execute(query)]


HEALTH_SERIES = (
    "cpu_temperature_c",
    "load1",
    "card_service_latency_ms",
    "outbox_depth",
    "memory_available_mb",
)


def kiosk(store: Store, kiosk_id: str, now: float, *, hours: float = 24) -> dict[str, Any] | None:
    """One kiosk: its summary, its newest health sample, health charts, events, alerts."""
    k, d, h = schema.kiosks, schema.daily, schema.health
    with store.reading() as db:
        counts = _open_alert_counts(db)
        row = db.execute(
            select(k, d.c.succeeded, d.c.failed, counts.c.alerts)
            .outerjoin(d, and_(d.c.kiosk_id == k.c.kiosk_id, d.c.day == store.day(now)))
            .outerjoin(counts, counts.c.kiosk_id == k.c.kiosk_id)
            .where(k.c.kiosk_id == kiosk_id)
        ).first()
        if row is None:
            return None
        samples = db.execute(
            select(h.c.at, *(h.c[name] for name in HEALTH_SERIES))
            .where(h.c.kiosk_id == kiosk_id, h.c.at >= now - hours * 3600)
            .order_by(h.c.at)
        ).all()
    series: dict[str, list] = {"at": [s.at for s in samples]}
    for name in HEALTH_SERIES:
        series[name] = [getattr(s, name) for s in samples]
    return {
        **_kiosk_summary(row),
        "incarnation": row.incarnation,
        "health_interval": row.health_interval,
        "config": json.loads(row.config) if row.config else {},
        "failed_run": row.failed_run,
        "health": _health(row.last_health),
        "series": series,
        "events": events(store, kiosk=kiosk_id, limit=100),
        "alerts": alerts(store, kiosk=kiosk_id, limit=50),
        "audit": audit(store, kiosk=kiosk_id, limit=20),
    }


def change_marker(store: Store) -> tuple:
    """Something that changes whenever what the dashboard shows does."""
    with store.reading() as db:
        return (
            db.execute(select(func.max(schema.kiosks.c.updated))).scalar(),
            db.execute(select(func.max(schema.alerts.c.changed))).scalar(),
            db.execute(select(func.max(schema.audit.c.id), func.max(schema.audit.c.done_at))).one()[
                :
            ],
        )


def kiosk_exists(store: Store, kiosk_id: str) -> bool:
    """Whether the fleet has heard of a kiosk."""
    k = schema.kiosks
    with store.reading() as db:
        return db.execute(select(k.c.kiosk_id).where(k.c.kiosk_id == kiosk_id)).first() is not None


def moment(epoch: float) -> dt.datetime:
    """Epoch seconds as an aware UTC time."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC)
