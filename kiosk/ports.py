"""What the controller needs from the world, as interfaces: the card, the card service, a sink.

The controller is given these at the edge (:mod:`kiosk.appliance` wires the real
ones: :class:`kiosk.card_actions.PcscCardAccess`, :class:`kiosk.cardservice_client.
CardServiceClient`, :class:`kiosk.event_sink.BackgroundSink`), so its tests run
with plain fakes and no pcscd, network or threads of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from kiosk.cardservice_client import LoginStart, LoginStatus, UnlockCredential
from kiosk.flow import effects as fx
from kiosk.flow import events as ev
from kiosk.session_report import SessionReport
from protocol.cardservice_values import PinRole
from protocol.credential import UnlockKey
from protocol.reasons import Outcome, Reason


class CardService(Protocol):
    """The card service API as the kiosk uses it (every failure a ``CardServiceError``)."""

    def health(self) -> str:
        """``"ok"`` or ``"maintenance"``."""
        ...

    def start_login(self, card_number: str) -> LoginStart:
        """Start the Mobilt SITHS login for a card."""
        ...

    def poll_login(self, order_ref: str) -> LoginStatus:
        """The login's status now."""
        ...

    def cancel_login(self, order_ref: str) -> LoginStatus:
        """Give up a login."""
        ...

    def request_unlock(
        self,
        order_ref: str,
        card_number: str,
        pin_role: PinRole,
        key: UnlockKey,
        challenge: bytes | None = None,
    ) -> UnlockCredential:
        """The opened unlock credential for one PIN."""
        ...

    def report_outcome(self, unlock_id: str, result: Outcome, reason: Reason | None = None) -> None:
        """Tell the service what became of the card, and why."""
        ...


class CardAccess(Protocol):
    """The card work behind the flow's effects; each returns the event for the flow."""

    def read_card(self, session_id: int, reader: str) -> ev.Event:
        """ReadCard -> CardRead / CardReadFailed."""
        ...

    def unlock_with_service(
        self,
        job: fx.UnlockWithService,
        service: CardService,
        *,
        safety_margin: int,
        cancelled: Callable[[], bool],
    ) -> ev.Event:
        """UnlockWithService -> UnlockFinished / UnlockFailed / ServiceRefused."""
        ...

    def unlock_with_puk(self, job: fx.UnlockWithPuk, *, safety_margin: int) -> ev.Event:
        """UnlockWithPuk -> UnlockFinished / UnlockFailed."""
        ...

    def resolve_unlock(self, job: fx.ResolveUnlock, service: CardService) -> ev.Event:
        """ResolveUnlock -> UnlockResolved (and the card service told the final outcome)."""
        ...


#: Takes session reports; must not block (see :class:`kiosk.event_sink.BackgroundSink`).
EventSink = Callable[[SessionReport], None]
