"""Events into the flow: from the reader, the card, the card service, the screen, the clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from kiosk.flow.model import CardFacts, LoginInfo, Unsettled
from protocol.reasons import Outcome, Reason, UnlockMechanism


@dataclass(frozen=True)
class CardInserted:
    """A card went into a reader."""

    reader: str


@dataclass(frozen=True)
class CardRemoved:
    """The card left the reader."""

    reader: str


@dataclass(frozen=True)
class CardRead:
    """The card was read (result of the ReadCard effect)."""

    session_id: int
    card: CardFacts


@dataclass(frozen=True)
class CardReadFailed:
    """The card could not be read."""

    session_id: int
    reason: Reason


@dataclass(frozen=True)
class StartMobileLogin:
    """The holder tapped "unlock with Mobilt SITHS"."""


@dataclass(frozen=True)
class StartPukPath:
    """The holder tapped "I have my PUK letter"."""


@dataclass(frozen=True)
class Cancel:
    """The holder tapped cancel / back."""


@dataclass(frozen=True)
class LoginStarted:
    """The card service started the login."""

    session_id: int
    login: LoginInfo


@dataclass(frozen=True)
class LoginUpdate:
    """One poll's answer."""

    session_id: int
    status: str
    hint: str | None


@dataclass(frozen=True)
class ServiceRefused:
    """The card service refused or failed before anything changed on the card."""

    session_id: int
    reason: Reason


@dataclass(frozen=True)
class PinEntered:
    """The keypad's OK with what was typed (a PIN, or the PUK on the PUK path); never in a repr."""

    value: str = field(repr=False)


@dataclass(frozen=True)
class UnlockFinished:
    """The card was unblocked and every new PIN verified; ``mechanism`` says how."""

    session_id: int
    mechanism: UnlockMechanism | None = None


@dataclass(frozen=True)
class UnlockFailed:
    """The unlock failed; ``outcome`` says what the card's state is, as far as it is known.

    ``tries_left`` is the PUK tries left after a wrong PUK. With outcome unknown,
    ``pending`` is what to ask the card when it is back (``None``: nothing can).
    """

    session_id: int
    reason: Reason
    tries_left: int | None = None
    outcome: Outcome = Outcome.NOT_UNLOCKED
    mechanism: UnlockMechanism | None = None
    pending: Unsettled | None = None


@dataclass(frozen=True)
class UnlockResolved:
    """The card came back and said what became of the unlock (result of ResolveUnlock).

    ``outcome`` unknown means it still cannot tell (``reason``: another card, no answer).
    """

    session_id: int
    outcome: Outcome
    reason: Reason | None = None
    mechanism: UnlockMechanism | None = None


@dataclass(frozen=True)
class Tick:
    """The clock moved (monotonic seconds); timeouts are decided on ticks."""

    now: float


@dataclass(frozen=True)
class ServiceHealth:
    """Whether each prerequisite of service is met."""

    reader_present: bool
    provisioned: bool
    card_service_up: bool
    #: Facility IT took the kiosk out of service (a fleet command).
    maintenance: bool = False


Event = (
    CardInserted
    | CardRemoved
    | CardRead
    | CardReadFailed
    | StartMobileLogin
    | StartPukPath
    | Cancel
    | LoginStarted
    | LoginUpdate
    | ServiceRefused
    | PinEntered
    | UnlockFinished
    | UnlockFailed
    | UnlockResolved
    | Tick
    | ServiceHealth
)
