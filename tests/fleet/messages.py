"""Contract messages as the fleet reads them, for the store tests (no broker in between)."""

from __future__ import annotations

import datetime as dt
import uuid

from fleet.reading import Reading, read
from protocol import telemetry as tm

T0 = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def reading(message, received: float | None = None) -> tuple[Reading, bytes]:
    """A message as ingest hands it to the store: checked by :func:`fleet.reading.read`."""
    channel = {
        tm.StateMessage: tm.Channel.STATE,
        tm.HealthMessage: tm.Channel.HEALTH,
        tm.EventMessage: tm.Channel.EVENT,
    }[type(message)]
    payload = tm.encode(message)
    result = read(tm.topic(message.kiosk, channel), payload, received or message.at.timestamp())
    assert isinstance(result, Reading), result
    return result, payload


def birth(kiosk="kiosk-1", incarnation=1, seconds=0.0, state="online", **fields):
    return tm.StateMessage(
        kiosk=kiosk,
        state=state,
        incarnation=incarnation,
        at=at(seconds),
        site=fields.pop("site", "Testsjukhuset"),
        location=fields.pop("location", "Entré A"),
        health_interval=fields.pop("health_interval", 60.0),
        **fields,
    )


def health(kiosk="kiosk-1", incarnation=1, seq=1, seconds=0.0, **fields):
    values = {"uptime_s": 10.0, "reader_present": True, "card_service_up": True, "outbox_depth": 0}
    values.update(fields)
    return tm.HealthMessage(kiosk=kiosk, incarnation=incarnation, seq=seq, at=at(seconds), **values)


def event(kind, kiosk="kiosk-1", incarnation=1, seq=1, seconds=0.0, **fields):
    return tm.EventMessage(
        id=fields.pop("id", str(uuid.uuid4())),
        kiosk=kiosk,
        incarnation=incarnation,
        seq=seq,
        at=at(seconds),
        kind=kind,
        **fields,
    )
