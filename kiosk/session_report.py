"""A session report: one step of a session as the event sink (and later telemetry) gets it.

The flow's :class:`~kiosk.flow.effects.Report` says what happened; the
controller adds what only the shell knows: a unique id, the kiosk, a session
key unique across restarts, and the wall-clock time. There is no field for a
PIN, a PUK or a personal identity number. The card number is here in clear for
the kiosk's own use; telemetry decides what of it leaves the kiosk.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from kiosk.flow.effects import Report, ReportKind


@dataclass(frozen=True)
class SessionReport:
    """One reported step (``step``), with its identity and time."""

    report_id: str
    kiosk_id: str
    #: ``<incarnation>-<session number>``; ``None`` for the kiosk's own state (out of service).
    session: str | None
    at: dt.datetime
    step: Report

    @property
    def kind(self) -> ReportKind:
        """What the report is about."""
        return self.step.kind

    @classmethod
    def of(cls, step: Report, *, kiosk_id: str, incarnation: str, at: dt.datetime) -> SessionReport:
        """Stamp a flow report with its id, kiosk, session key and time."""
        session = None if step.session_id is None else f"{incarnation}-{step.session_id}"
        return cls(str(uuid.uuid4()), kiosk_id, session, at, step)

    def to_json(self) -> dict[str, object]:
        """Plain JSON values (for the journal now, telemetry later)."""
        step = self.step
        return {
            "id": self.report_id,
            "kiosk": self.kiosk_id,
            "session": self.session,
            "at": self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "kind": step.kind.value,
            "cardNumber": step.card_number,
            "reason": None if step.reason is None else step.reason.value,
            "outcome": None if step.outcome is None else step.outcome.value,
            "mechanism": step.mechanism,
            "triesLeft": step.tries_left,
            "durationSeconds": step.duration,
            "detail": step.detail,
        }
