"""Telemetry messages from what the kiosk knows (pure: no I/O, no clock of its own).

A session report becomes an event; the board, the controller and the counters
become a health sample; the kiosk's configuration becomes its birth. The card
number is turned into the fleet's keyed hash here, so the number itself never
reaches the outbox or the broker.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from hw.board import BoardReading
from kiosk.session_report import SessionReport
from protocol import telemetry as tm
from protocol.reasons import Outcome


@dataclass
class Tally:
    """Counts since the program started (the health sample's ``counters``)."""

    sessions: int = 0
    unlocks_succeeded: int = 0
    unlocks_failed: int = 0
    events_lost: int = 0

    def count(self, kind: tm.EventKind, outcome: Outcome | None) -> None:
        """Count one event."""
        if kind is tm.EventKind.SESSION_STARTED:
            self.sessions += 1
        elif kind is tm.EventKind.UNLOCK_SUCCEEDED:
            self.unlocks_succeeded += 1
        elif kind is tm.EventKind.UNLOCK_FAILED and outcome is not Outcome.UNLOCKED:
            self.unlocks_failed += 1


@dataclass(frozen=True)
class Identity:
    """Who is speaking: the kiosk, this run's incarnation, and the card-hash key."""

    kiosk_id: str
    incarnation: int
    card_hash_key: bytes = field(repr=False)


def event_from_report(report: SessionReport, me: Identity, seq: int) -> tm.EventMessage:
    """A session report as a telemetry event (card number hashed, no names)."""
    step = report.step
    return tm.EventMessage(
        id=report.report_id,
        kiosk=me.kiosk_id,
        incarnation=me.incarnation,
        seq=seq,
        at=report.at,
        kind=tm.EventKind(step.kind),
        session=report.session,
        card=None if step.card_number is None else tm.card_hash(me.card_hash_key, step.card_number),
        reason=None if step.reason is None else str(step.reason),
        outcome=step.outcome,
        mechanism=None if step.mechanism is None else str(step.mechanism),
        tries_left=step.tries_left,
        duration_s=step.duration,
        detail=step.detail[:200] if step.detail else None,
    )


def kiosk_event(
    kind: tm.EventKind, me: Identity, seq: int, at: dt.datetime, detail: str | None = None
) -> tm.EventMessage:
    """An event of the kiosk's own (maintenance, a command's answer, an error)."""
    return tm.EventMessage(
        id=str(uuid.uuid4()),
        kiosk=me.kiosk_id,
        incarnation=me.incarnation,
        seq=seq,
        at=at,
        kind=kind,
        detail=detail[:200] if detail else None,
    )


@dataclass(frozen=True)
class KioskCondition:
    """What the controller knows of its surroundings at one moment."""

    reader_present: bool
    card_service_up: bool | None
    card_service_latency_ms: float | None
    maintenance: bool


def health(
    me: Identity,
    seq: int,
    at: dt.datetime,
    board: BoardReading,
    condition: KioskCondition,
    *,
    certificate_days_left: int | None,
    outbox_depth: int,
    thinned: int,
    tally: Tally,
    refused: int = 0,
    dropped: int = 0,
) -> tm.HealthMessage:
    """One health sample."""
    throttling = None if board.throttling is None else tm.Throttling(**board.throttling.__dict__)
    return tm.HealthMessage(
        kiosk=me.kiosk_id,
        incarnation=me.incarnation,
        seq=seq,
        at=at,
        uptime_s=board.uptime_s,
        load1=board.load1,
        memory_available_mb=board.memory_available_mb,
        disk_free_mb=board.disk_free_mb,
        cpu_temperature_c=board.cpu_temperature_c,
        throttling=throttling,
        reader_present=condition.reader_present,
        card_service_up=condition.card_service_up,
        card_service_latency_ms=condition.card_service_latency_ms,
        clock_synchronised=board.clock_synchronised,
        certificate_days_left=certificate_days_left,
        outbox_depth=outbox_depth,
        maintenance=condition.maintenance,
        counters=tm.Counters(
            sessions=tally.sessions,
            unlocks_succeeded=tally.unlocks_succeeded,
            unlocks_failed=tally.unlocks_failed,
            events_lost=tally.events_lost,
            health_thinned=thinned,
            refused_by_broker=refused,
            reports_dropped=dropped,
        ),
    )


def days_left(not_after: dt.datetime | None, now: dt.datetime) -> int | None:
    """Whole days until a certificate expires (negative once it has)."""
    return None if not_after is None else (not_after - now).days
