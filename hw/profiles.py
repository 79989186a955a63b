"""Choosing a card profile by asking the card, not by configuration.

:func:`open_session` probes the card behind a connection and returns the
matching typed session; every profile session offers the :class:`CardSession`
interface, which is what the kiosk and the CLI program against. Each profile is
tried whatever status word the previous one's SELECT got: cards refuse an
application they do not have in many ways.
"""

from __future__ import annotations

from typing import Protocol

from hw.apdu_processor import ApduProcessor, Transport
from hw.errors import UnsupportedCard
from hw.pins import PinStatus
from hw.piv.session import PivSession
from hw.siths.session import SithsLayout, SithsSession
from hw.unblocking import PinOutcome


class CardSession(Protocol):
    """What every card profile session offers."""

    profile: str

    def select(self) -> None:
        """Select the application again (the first command of each transaction)."""
        ...

    def pin_statuses(self) -> list[PinStatus]:
        """State of every PIN and PUK the card reports on."""
        ...

    def pin_state(self, pin_name: str) -> PinStatus:
        """One PIN's state (the empty VERIFY only)."""
        ...

    def pin_roles(self) -> dict[str, str | None]:
        """Each PIN's role where the card says ("identification", "signature", "puk")."""
        ...

    def unblockable_pins(self) -> list[str]:
        """Names of the PINs :meth:`unblock_pin` can unblock."""
        ...

    def reset_pin(self, pin_name: str, puk: str, new_pin: str, *, safety_margin: int) -> None:
        """RESET RETRY COUNTER with the PUK (the point of no return of an unblock)."""
        ...

    def unblock_pin(
        self, pin_name: str, puk: str, new_pin: str, *, safety_margin: int
    ) -> PinOutcome:
        """Unblock ``pin_name`` with the PUK and verify the new PIN (hw.unblocking)."""
        ...

    def verify(self, pin_name: str, pin: str) -> None:
        """Verify a PIN; raise a typed outcome on failure."""
        ...

    def logout(self) -> None:
        """Drop any verified PIN state the session created."""
        ...

    def identity(self) -> str | None:
        """What tells this card from another (card number, CHUID), where the card has it."""
        ...


def open_session(transport: Transport, known: SithsLayout | None = None) -> CardSession:
    """Probe the card and return its profile session, or raise :class:`UnsupportedCard`.

    Run it inside a transaction: it begins with the application SELECT. ``known``
    is what a read of this very card learned (:meth:`SithsSession.layout`): the
    session then sends the SELECT alone and reads nothing.
    """
    processor = ApduProcessor(transport)
    if known is not None:
        return SithsSession(processor, known)
    try:
        return SithsSession(processor)
    except UnsupportedCard:
        pass
    try:
        return PivSession(processor)
    except UnsupportedCard:
        pass
    atr = getattr(transport, "atr", b"")
    named = f" (ATR {atr.hex(' ').upper()})" if atr else ""
    raise UnsupportedCard(f"unknown card{named}: neither SITHS nor PIV")
