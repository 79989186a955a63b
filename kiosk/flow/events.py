"""Events into the flow: from the reader, the card, the card service, the screen, the clock."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.flow.model import CardFacts, LoginInfo


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
    """The card could not be read; ``reason`` is a message code."""

    session_id: int
    reason: str


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
    """The card service refused or failed; ``reason`` is a problem or error code."""

    session_id: int
    reason: str


@dataclass(frozen=True)
class PinEntered:
    """The keypad's OK with what was typed (a PIN, or the PUK on the PUK path)."""

    value: str


@dataclass(frozen=True)
class UnlockFinished:
    """The card was unblocked and every new PIN verified."""

    session_id: int


@dataclass(frozen=True)
class UnlockFailed:
    """The unblock did not happen; ``reason`` is a message code, ``tries_left`` for a wrong PUK."""

    session_id: int
    reason: str
    tries_left: int | None = None


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
    | Tick
    | ServiceHealth
)
