"""Effects the flow asks the controller to run; results come back as events."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.flow.model import Unsettled
from protocol.reasons import Outcome, Reason, UnlockMechanism
from protocol.telemetry import EventKind


@dataclass(frozen=True)
class ReadCard:
    """Read the card in ``reader`` -> CardRead / CardReadFailed."""

    session_id: int
    reader: str


@dataclass(frozen=True)
class StartLogin:
    """Ask the card service for a login -> LoginStarted / ServiceRefused."""

    session_id: int
    card_number: str


@dataclass(frozen=True)
class PollLogin:
    """Poll the login after ``delay`` seconds -> LoginUpdate / ServiceRefused."""

    session_id: int
    order_ref: str
    delay: float


@dataclass(frozen=True)
class CancelLogin:
    """Tell the card service the login is abandoned (fire and forget)."""

    order_ref: str


@dataclass(frozen=True)
class UnlockWithService:
    """Get the credential and unblock each PIN -> UnlockFinished / UnlockFailed.

    ``new_pins`` pairs a PIN name with its new value; the controller forgets
    them once the card has them.
    """

    session_id: int
    reader: str
    order_ref: str
    card_number: str
    new_pins: tuple[tuple[str, str], ...]
    #: Each PIN's role as the card was read ("identification", "signature"), by name.
    roles: tuple[tuple[str, str | None], ...] = ()

    def __repr__(self) -> str:  # the PIN must never reach a log through a repr
        names = ", ".join(name for name, _ in self.new_pins)
        return f"UnlockWithService(session_id={self.session_id}, pins=[{names}])"


@dataclass(frozen=True)
class UnlockWithPuk:
    """Unblock each PIN with the holder's PUK -> UnlockFinished / UnlockFailed."""

    session_id: int
    reader: str
    card_number: str | None
    puk: str
    new_pins: tuple[tuple[str, str], ...]

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.new_pins)
        return f"UnlockWithPuk(session_id={self.session_id}, pins=[{names}])"


@dataclass(frozen=True)
class ResolveUnlock:
    """The card is back: read what became of ``pending`` -> UnlockResolved.

    Also tells the card service the final outcome of each credential.
    """

    session_id: int
    reader: str
    card_number: str | None
    pending: Unsettled


#: What a report is about: the steps of a session are telemetry's event kinds.
ReportKind = EventKind


@dataclass(frozen=True)
class Report:
    """A step of a session for the event sink (telemetry).

    It never carries a PIN, a PUK or a personal identity number: there is no
    field for them. The controller adds the report's id, the kiosk, the time.
    """

    kind: ReportKind
    session_id: int | None = None
    card_number: str | None = None
    reason: Reason | None = None
    outcome: Outcome | None = None
    mechanism: UnlockMechanism | None = None
    tries_left: int | None = None
    #: Seconds since the card went in (monotonic), for steps of a session.
    duration: float | None = None
    #: Out-of-service causes, the reader's name, or the screen a card was pulled from.
    detail: str | None = None


Effect = (
    ReadCard
    | StartLogin
    | PollLogin
    | CancelLogin
    | UnlockWithService
    | UnlockWithPuk
    | ResolveUnlock
    | Report
)
