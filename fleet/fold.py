"""A kiosk's row, brought up to date by the messages that arrive (pure: no I/O).

:func:`fold` takes the row as stored and one valid message and returns the new row;
the store runs it for each message of a batch, in arrival order, on rows it holds
locked, and writes back only what changed. Events are folded only when they were
stored for the first time, so a repeat never counts twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from fleet import liveness
from fleet.liveness import Status
from fleet.reading import Reading
from protocol import telemetry as tm
from protocol.reasons import Outcome

#: ``service_mark``: incarnation and sequence number in one comparable integer.
_SEQ_BITS = 32


@dataclass(frozen=True)
class KioskRow:
    """The ``kiosks`` table's columns (fleet/schema.py)."""

    kiosk_id: str
    status: str
    status_since: float
    last_seen: float
    updated: float
    site: str | None = None
    location: str | None = None
    software: str | None = None
    incarnation: int = 0
    state: str | None = None
    state_at: float | None = None
    maintenance: bool = False
    health_interval: float | None = None
    config: str | None = None
    status_reason: str | None = None
    last_health: str | None = None
    last_health_at: float | None = None
    prior_health: str | None = None
    out_of_service: str | None = None
    service_mark: int = 0
    failed_run: int = 0

    @classmethod
    def first_seen(cls, kiosk_id: str, now: float) -> KioskRow:
        """A kiosk the fleet has not heard of before: online, as it just spoke."""
        return cls(kiosk_id, Status.ONLINE, now, now, now)


def _with(row: KioskRow, **changes: object) -> KioskRow:
    """``dataclasses.replace`` without its checks: this runs for every message of a batch."""
    new = object.__new__(KioskRow)
    new.__dict__.update(row.__dict__, **changes)
    return new


def columns(row: KioskRow) -> dict[str, object]:
    """The row as the table's column values (``dataclasses.asdict`` deep-copies: too slow)."""
    return dict(row.__dict__)


def mark(incarnation: int, seq: int) -> int:
    """Order of messages across incarnations."""
    return (incarnation << _SEQ_BITS) | min(seq, (1 << _SEQ_BITS) - 1)


def is_failure(event: tm.EventMessage) -> bool:
    """An unlock that did not unlock (partly unlocked counts as unlocked, as on the kiosk)."""
    return event.kind is tm.EventKind.UNLOCK_FAILED and event.outcome is not Outcome.UNLOCKED


def _heard(row: KioskRow, reading: Reading) -> KioskRow:
    """Any message: the kiosk was seen; silence alone made it offline, so it is back."""
    row = _with(row, last_seen=max(row.last_seen, reading.received))
    if row.status == Status.OFFLINE and row.status_reason == liveness.SILENT:
        status = Status.MAINTENANCE if row.maintenance else Status.ONLINE
        row = _with(row, status=status, status_since=reading.received, status_reason=None)
    return row


def _state(row: KioskRow, message: tm.StateMessage, received: float) -> KioskRow:
    at = message.at.timestamp()
    if not liveness.is_newer(message.incarnation, at, row.incarnation, row.state_at):
        return row  # a late will or a replayed retained state of an older run
    status, reason = liveness.from_state(message.state, message.maintenance)
    changes: dict[str, object] = {
        "incarnation": message.incarnation,
        "state": str(message.state),
        "state_at": at,
        "maintenance": message.maintenance,
        "status_reason": reason,
    }
    if status != row.status:
        changes.update(status=str(status), status_since=received)
    if message.state is tm.KioskState.ONLINE:
        changes.update(
            site=message.site,
            location=message.location,
            software=message.software,
            health_interval=message.health_interval,
            config=json.dumps(message.config, ensure_ascii=False, sort_keys=True),
        )
        # A new run starts in service; it says again if it is not.
        if row.service_mark < mark(message.incarnation, 0):
            changes.update(out_of_service=None, service_mark=mark(message.incarnation, 0))
    return _with(row, **changes)


def _health(row: KioskRow, message: tm.HealthMessage, payload: str) -> KioskRow:
    at = message.at.timestamp()
    if row.last_health_at is not None and at < row.last_health_at:
        return row  # an older sample delivered late: history only
    return _with(row, last_health=payload, last_health_at=at, prior_health=row.last_health)


def _event(row: KioskRow, event: tm.EventMessage) -> KioskRow:
    changes: dict[str, object] = {}
    if event.kind is tm.EventKind.UNLOCK_SUCCEEDED:
        changes["failed_run"] = 0
    elif is_failure(event):
        changes["failed_run"] = row.failed_run + 1
    here = mark(event.incarnation, event.seq)
    service = (tm.EventKind.OUT_OF_SERVICE, tm.EventKind.BACK_IN_SERVICE)
    if event.kind in service and here >= row.service_mark:
        oos = event.kind is tm.EventKind.OUT_OF_SERVICE
        reason = event.detail or event.reason or "out of service"
        changes.update(out_of_service=reason if oos else None, service_mark=here)
    return _with(row, **changes)


def fold(row: KioskRow, reading: Reading, *, payload: str = "", new_event: bool = True) -> KioskRow:
    """The row after one message (``payload``: a health sample's JSON, kept as the latest)."""
    row = _heard(row, reading)
    message = reading.message
    if isinstance(message, tm.StateMessage):
        return _state(row, message, reading.received)
    if isinstance(message, tm.HealthMessage):
        return _health(row, message, payload)
    return _event(row, message) if new_event else row
