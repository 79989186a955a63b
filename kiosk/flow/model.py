"""Facts the flow works with: the card as read, the login, the session."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from protocol.reasons import Reason


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
