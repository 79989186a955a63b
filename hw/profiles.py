"""Choosing a card profile by asking the card, not by configuration.

:func:`open_session` probes the card behind a connection and returns the
matching typed session; every profile session offers the :class:`CardSession`
interface, which is what the kiosk and the CLI program against.
"""

from __future__ import annotations

from typing import Protocol

from hw.apdu_processor import ApduProcessor, Transport
from hw.errors import UnsupportedCard
from hw.pins import PinStatus
from hw.piv.session import PIN_NAME as PIV_PIN_NAME
from hw.piv.session import PivSession
from hw.siths.session import SithsSession


class CardSession(Protocol):
    """What every card profile session offers."""

    profile: str

    def pin_statuses(self) -> list[PinStatus]:
        """State of every PIN and PUK the card reports on."""
        ...

    def unblockable_pins(self) -> list[str]:
        """Names of the PINs :meth:`unblock` can unblock."""
        ...

    def unblock_pin(
        self, pin_name: str, puk: str, new_pin: str, *, safety_margin: int
    ) -> PinStatus:
        """Unblock ``pin_name`` with the PUK; return its state afterwards."""
        ...

    def verify(self, pin_name: str, pin: str) -> None:
        """Verify a PIN; raise a typed outcome on failure."""
        ...

    def logout(self) -> None:
        """Drop any verified PIN state the session created."""
        ...


class PivCardSession(PivSession):
    """The PIV session under the profile-neutral names."""

    def unblockable_pins(self) -> list[str]:
        """PIV has one PIN."""
        return [PIV_PIN_NAME]

    def _check_name(self, pin_name: str) -> None:
        if pin_name != PIV_PIN_NAME:
            raise UnsupportedCard(f"a PIV card has no PIN named {pin_name!r}")

    def unblock_pin(
        self, pin_name: str, puk: str, new_pin: str, *, safety_margin: int
    ) -> PinStatus:
        """Unblock the PIV PIN."""
        self._check_name(pin_name)
        return self.unblock(puk, new_pin, safety_margin=safety_margin)

    def verify(self, pin_name: str, pin: str) -> None:
        """Verify the PIV PIN."""
        self._check_name(pin_name)
        self.verify_pin(pin)


def open_session(transport: Transport) -> CardSession:
    """Probe the card and return its profile session, or raise :class:`UnsupportedCard`."""
    processor = ApduProcessor(transport)
    try:
        return SithsSession(processor)
    except UnsupportedCard:
        pass
    try:
        return PivCardSession(processor)
    except UnsupportedCard:
        pass
    raise UnsupportedCard("this card is not a supported card (neither SITHS nor PIV)")
