"""The flow's reports on the steps of a session (the event sink's, and telemetry's, input)."""

from __future__ import annotations

from kiosk.flow import effects as fx
from kiosk.flow.model import Session


def card_number(session: Session) -> str | None:
    """The card number, once the card was read."""
    return session.card.card_number if session.card else None


def report(kind: fx.ReportKind, session: Session, now: float, **facts: object) -> fx.Report:
    """A report on one step of ``session`` (no PIN, PUK or personal identity number)."""
    return fx.Report(
        kind,
        session.session_id,
        card_number(session),
        duration=round(now - session.started, 3),
        **facts,  # type: ignore[arg-type]
    )
