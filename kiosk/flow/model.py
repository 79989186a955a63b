"""Facts the flow works with: the card as read, the login, the session."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from protocol.reasons import Reason, UnlockMechanism


@dataclass(frozen=True)
class PinFacts:
    """One PIN (or the PUK) as the card reports it."""

    name: str
    role: str | None
    tries_left: int | None
    blocked: bool


@dataclass(frozen=True)
class CardFacts:
    """Which card this is, as the card summary screen shows it."""

    profile: str
    card_number: str | None
    holder_name: str | None
    organisation: str | None
    valid_to: dt.date | None
    personal_identity_number: str | None
    pins: tuple[PinFacts, ...]
    #: What the certificate checks found (hw.siths.trust.CardProblem, as reasons).
    problems: tuple[Reason, ...] = ()

    @property
    def puk(self) -> PinFacts | None:
        """The PUK, if the card reports it."""
        return next((p for p in self.pins if p.role == "puk"), None)

    @property
    def blocked_pins(self) -> tuple[PinFacts, ...]:
        """The PINs (not the PUK) that are blocked."""
        return tuple(p for p in self.pins if p.blocked and p.role != "puk")


@dataclass(frozen=True)
class LoginInfo:
    """A started Mobilt SITHS login: enough to draw the QR and poll."""

    order_ref: str
    qr_prefix: str
    qr_start_token: str
    qr_start_secret: str = field(repr=False)
    expires_at: float  # monotonic seconds
    poll_interval: float


@dataclass(frozen=True)
class Session:
    """One card in the reader, from insertion to removal."""

    session_id: int
    reader: str
    started: float
    card: CardFacts | None = None


@dataclass(frozen=True)
class UnsettledPin:
    """A PIN whose reset may or may not have happened; the new PIN never shows in a repr."""

    name: str
    new_pin: str = field(repr=False)
    #: Its state before the reset was sent (to judge the card's answer by).
    was_blocked: bool
    tries_before: int | None


@dataclass(frozen=True)
class Unsettled:
    """An unlock whose outcome only the card can settle, once it is back in the reader.

    Held by the flow (so it ends with the session) and handed back to the card
    work in :class:`~kiosk.flow.effects.ResolveUnlock`.
    """

    #: Why the outcome is not known (card-removed, card-not-answering ...).
    reason: Reason
    mechanism: UnlockMechanism | None
    pins: tuple[UnsettledPin, ...]
    #: PINs of this visit already unlocked and verified.
    unlocked: tuple[str, ...] = ()
    #: PINs of this visit not tried at all (the unlock stopped before them).
    untried: tuple[str, ...] = ()
    #: Credentials whose final outcome the card service must be told: (unlock id, its PINs).
    credentials: tuple[tuple[str, tuple[str, ...]], ...] = ()
