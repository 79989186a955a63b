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
from protocol.reasons import Outcome, Reason


@dataclass(frozen=True)
class SessionReport:
    """One reported step, with its identity and time."""

    report_id: str
    kiosk_id: str
    #: ``<incarnation>-<session number>``; ``None`` for the kiosk's own state (out of service).
    session: str | None
    at: dt.datetime
    kind: ReportKind
    card_number: str | None = None
    reason: Reason | None = None
    outcome: Outcome | None = None
    mechanism: str | None = None
    tries_left: int | None = None
    duration: float | None = None
    detail: str | None = None

    @classmethod
    def of(
        cls, report: Report, *, kiosk_id: str, incarnation: str, at: dt.datetime
    ) -> SessionReport:
        """Stamp a flow report with its id, kiosk, session key and time."""
        session = None if report.session_id is None else f"{incarnation}-{report.session_id}"
        return cls(
            report_id=str(uuid.uuid4()),
            kiosk_id=kiosk_id,
            session=session,
            at=at,
            kind=report.kind,
            card_number=report.card_number,
            reason=report.reason,
            outcome=report.outcome,
            mechanism=report.mechanism,
            tries_left=report.tries_left,
            duration=report.duration,
            detail=report.detail,
        )

    def to_json(self) -> dict[str, object]:
        """Plain JSON values (for the journal now, telemetry later)."""
        return {
            "id": self.report_id,
            "kiosk": self.kiosk_id,
            "session": self.session,
            "at": self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "kind": self.kind.value,
            "cardNumber": self.card_number,
            "reason": None if self.reason is None else self.reason.value,
            "outcome": None if self.outcome is None else self.outcome.value,
            "mechanism": self.mechanism,
            "triesLeft": self.tries_left,
            "durationSeconds": self.duration,
            "detail": self.detail,
        }
