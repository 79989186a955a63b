"""The flow's states: one per screen. Frozen, so a transition cannot change the past.

States that hold a new PIN or the PUK hide them from ``repr`` so they cannot
reach a log through a debug print; dropping the state is wiping them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kiosk.flow.model import LoginInfo, Session, Unsettled
from kiosk.pin_policy import PinRejection
from protocol.reasons import Outcome, Reason


@dataclass(frozen=True)
class Idle:
    """Waiting for a card; ``last_session`` numbers sessions so stale results are ignored."""

    last_session: int = 0


@dataclass(frozen=True)
class OutOfService:
    """Cannot serve: ``reasons`` say why (no reader, not provisioned, card service down)."""

    reasons: tuple[Reason, ...]
    last_session: int = 0


@dataclass(frozen=True)
class ReadingCard:
    """Reading the card that was just inserted."""

    session: Session
    deadline: float


@dataclass(frozen=True)
class CardSummary:
    """Which card it is and whether it can be unlocked here (``verdict`` None) or why not."""

    session: Session
    verdict: Reason | None
    deadline: float


@dataclass(frozen=True)
class StartingLogin:
    """Asking the card service for a login."""

    session: Session
    deadline: float


@dataclass(frozen=True)
class LoginQr:
    """Showing the animated QR; ``hint`` is the latest hint code."""

    session: Session
    login: LoginInfo
    hint: str | None
    deadline: float


@dataclass(frozen=True)
class PukEntry:
    """The holder types the PUK from their PUK letter."""

    session: Session
    deadline: float
    error: Reason | None = None


@dataclass(frozen=True)
class NewPin:
    """The holder chooses a new PIN for each of ``targets`` (typed twice)."""

    session: Session
    targets: tuple[str, ...]
    deadline: float
    order_ref: str | None = None
    puk: str | None = field(default=None, repr=False)
    chosen: tuple[str, ...] = field(default=(), repr=False)
    first: str | None = field(default=None, repr=False)
    error: PinRejection | None = None

    @property
    def current_target(self) -> str:
        """The PIN being chosen now."""
        return self.targets[len(self.chosen)]

    @property
    def confirming(self) -> bool:
        """Whether the holder is typing the PIN the second time."""
        return self.first is not None


@dataclass(frozen=True)
class Unlocking:
    """Unblocking the card: "keep the card in the reader"."""

    session: Session
    deadline: float


@dataclass(frozen=True)
class PutCardBack:
    """The card left while its PIN may have been reset: "put the card back", until ``deadline``.

    ``pending`` is what the card must be asked once it is back; ``running`` the
    unlock not having answered yet (it may still say the outcome is known).
    ``card_in`` is the card being back, ``checking`` a ResolveUnlock under way,
    ``note`` why the last look settled nothing (another card, no answer).
    """

    session: Session
    deadline: float
    pending: Unsettled | None = None
    running: bool = True
    card_in: bool = False
    checking: bool = False
    note: Reason | None = None


@dataclass(frozen=True)
class Done:
    """Unlocked; remove the card (``until``: it is already out; idle again at that time)."""

    session: Session
    until: float | None = None


@dataclass(frozen=True)
class Failed:
    """The unlock did not succeed: ``reason`` says why and what to do next; remove the card.

    ``outcome`` is what is known of the card: not unlocked, unlocked in part, or
    unknown when it left (or stopped answering) while the unlock was under way;
    then ``pending`` is what to ask it when it is put back in. ``until``: the card
    is already out, and the kiosk is idle again at that time.
    """

    session: Session
    reason: Reason
    tries_left: int | None = None
    outcome: Outcome = Outcome.NOT_UNLOCKED
    pending: Unsettled | None = None
    until: float | None = None


State = (
    Idle
    | OutOfService
    | ReadingCard
    | CardSummary
    | StartingLogin
    | LoginQr
    | PukEntry
    | NewPin
    | Unlocking
    | PutCardBack
    | Done
    | Failed
)

#: States in which a session is under way and the holder is waiting on something.
ACTIVE = (ReadingCard, CardSummary, StartingLogin, LoginQr, PukEntry, NewPin, Unlocking)
