"""How far an unlock got, PIN by PIN, and one outcome for it from what the card said.

The card work (:mod:`kiosk.card_actions`) records each PIN's outcome as the card
layer read it (:class:`hw.unblocking.PinOutcome`) and each credential the card
service handed out. From that this module makes the one event the flow gets and
the outcome the card service is told for each credential, so that the screen,
the session report and the service say the same. An outcome only the card can
settle later leaves an :class:`~kiosk.flow.model.Unsettled` for the flow to hold.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from hw.errors import CardError
from hw.pins import PinStatus
from hw.settling import PendingPin
from hw.unblocking import PinOutcome
from kiosk.cardservice_errors import CardServiceError
from kiosk.flow import events as ev
from kiosk.flow.model import Unsettled, UnsettledPin
from kiosk.ports import CardService
from kiosk.reasons import card_reason, tries_left
from protocol.reasons import Outcome, Reason, UnlockMechanism

log = logging.getLogger(__name__)


def combine(outcomes: Iterable[Outcome], reason: Reason | None) -> tuple[Outcome, Reason | None]:
    """One outcome for several PINs: unknown wins, then unlocked (in part, if not all)."""
    found = list(outcomes)
    if Outcome.UNKNOWN in found:
        return Outcome.UNKNOWN, reason
    if found and all(outcome is Outcome.UNLOCKED for outcome in found):
        return Outcome.UNLOCKED, None
    if Outcome.UNLOCKED in found:
        return Outcome.UNLOCKED, Reason.PARTLY_UNLOCKED
    return Outcome.NOT_UNLOCKED, reason


def tell(
    service: CardService | None, unlock_id: str, outcome: Outcome, reason: Reason | None
) -> None:
    """Report a credential's outcome to the card service; a lost report is only logged."""
    if service is None:
        return
    try:
        service.report_outcome(unlock_id, outcome, reason)
    except CardServiceError as error:
        # The service keeps the audit; a lost report must not hide the card's state.
        log.warning("could not report the unlock outcome: %s", error)


def settled(
    pending: Unsettled, outcomes: list[PinOutcome]
) -> tuple[Outcome, Reason | None, list[tuple[str, Outcome, Reason | None]]]:
    """What an unsettled unlock came to, once the card put back was asked about its PINs.

    The outcome and reason for the flow, and what to tell the card service for each
    credential (none while anything is still unknown).
    """
    unknown = [o for o in outcomes if o.outcome is Outcome.UNKNOWN]
    if unknown:
        error = unknown[0].error
        return Outcome.UNKNOWN, card_reason(error) if error else pending.reason, []
    by_pin = {name: Outcome.UNLOCKED for name in pending.unlocked}
    by_pin.update({name: Outcome.NOT_UNLOCKED for name in pending.untried})
    by_pin.update({o.pin: o.outcome for o in outcomes})
    told = []
    for unlock_id, pins in pending.credentials:
        outcome, why = combine((by_pin.get(n, Outcome.NOT_UNLOCKED) for n in pins), pending.reason)
        told.append((unlock_id, outcome, why))
    outcome, why = combine(by_pin.values(), pending.reason)
    return outcome, why, told


def pending_pins(pending: Unsettled) -> list[PendingPin]:
    """The card layer's view of the PINs an unsettled unlock must ask the card about."""
    return [
        PendingPin(pin.name, pin.new_pin, PinStatus(pin.name, pin.tries_before, pin.was_blocked))
        for pin in pending.pins
    ]


class UnlockProgress:
    """One unlock under way: each PIN's outcome, each credential, what stopped it."""

    def __init__(
        self,
        session_id: int,
        new_pins: tuple[tuple[str, str], ...],
        service: CardService | None,
        mechanism: UnlockMechanism | None = None,
    ) -> None:
        self.session_id = session_id
        self.new_pins = dict(new_pins)
        self.service = service
        self.mechanism = mechanism
        self.outcomes: dict[str, PinOutcome] = {}
        #: unlock id -> the PINs its credential was used for.
        self.credentials: dict[str, list[str]] = {}
        self.stopped: CardError | None = None
        self.refused: Reason | None = None
        #: A bug stopped the unlock part-way: what the card did is not known.
        self.crashed = False

    @property
    def unlocked(self) -> list[str]:
        """PINs unlocked and verified so far."""
        return [name for name, o in self.outcomes.items() if o.outcome is Outcome.UNLOCKED]

    def credential(self, unlock_id: str, pin_name: str) -> None:
        """The card service's credential ``unlock_id`` is being used for ``pin_name``."""
        pins = self.credentials.setdefault(unlock_id, [])
        if pin_name not in pins:
            pins.append(pin_name)

    def record(self, outcome: PinOutcome) -> None:
        """What the card said became of one PIN."""
        self.outcomes[outcome.pin] = outcome

    def _outcome_of(self, name: str) -> Outcome:
        found = self.outcomes.get(name)
        return found.outcome if found else Outcome.NOT_UNLOCKED

    def _reason(self) -> Reason | None:
        """Why the unlock stopped: the failed PIN's error, or what stopped it before."""
        for outcome in self.outcomes.values():
            if outcome.outcome is not Outcome.UNLOCKED and outcome.error is not None:
                return card_reason(outcome.error)
        if self.stopped is not None:
            return card_reason(self.stopped)
        return self.refused

    def _unsettled(self, reason: Reason | None) -> Unsettled | None:
        """What the card must be asked when it is back; ``None`` if nothing would tell."""
        waiting = [o for o in self.outcomes.values() if o.card_must_come_back]
        if not waiting:
            return None
        names = {o.pin for o in waiting}
        return Unsettled(
            reason=reason or Reason.CARD_REMOVED,
            mechanism=self.mechanism,
            pins=tuple(
                UnsettledPin(o.pin, self.new_pins[o.pin], o.before.blocked, o.before.tries_left)
                for o in waiting
            ),
            unlocked=tuple(self.unlocked),
            untried=tuple(name for name in self.new_pins if name not in self.outcomes),
            credentials=tuple(
                (unlock_id, tuple(pins))
                for unlock_id, pins in self.credentials.items()
                if names.intersection(pins)
            ),
        )

    def finish(self) -> ev.Event:
        """Tell the card service each credential's outcome; the event for the flow."""
        reason = self._reason()
        outcomes = {name: self._outcome_of(name) for name in self.new_pins}
        if self.crashed:  # a PIN not seen to the end may have been reset: never say it was not
            outcomes = {
                n: o if o is Outcome.UNLOCKED else Outcome.UNKNOWN for n, o in outcomes.items()
            }
        for unlock_id, pins in self.credentials.items():
            outcome, why = combine((outcomes[name] for name in pins), reason)
            tell(self.service, unlock_id, outcome, why)
        outcome, why = combine(outcomes.values(), reason)
        if outcome is Outcome.UNLOCKED and why is None:
            return ev.UnlockFinished(self.session_id, self.mechanism)
        if outcome is Outcome.NOT_UNLOCKED and self.refused is not None and not self.outcomes:
            return ev.ServiceRefused(self.session_id, self.refused)
        error = next((o.error for o in self.outcomes.values() if o.error), self.stopped)
        tries = tries_left(error) if error is not None and outcome is Outcome.NOT_UNLOCKED else None
        return ev.UnlockFailed(
            self.session_id,
            why or Reason.CARD_ERROR,
            tries,
            outcome,
            self.mechanism,
            self._unsettled(why) if outcome is Outcome.UNKNOWN else None,
        )
