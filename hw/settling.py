"""Settling an unblock whose end was not seen, once its card is back in the reader.

When the card left (or stopped answering) after RESET RETRY COUNTER was on its
way, what became of the PIN is read from the card when it is put back: the same
card (its identity is checked first: verifying a new PIN on someone else's card
would spend one of its tries), in one transaction from the application SELECT.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from hw.errors import CardError, DifferentCard
from hw.pcsc import APDU_TIMEOUT, PcscConnection
from hw.pins import PinStatus
from hw.profiles import open_session
from hw.unblocking import PinOutcome, settle
from protocol.reasons import Outcome


@dataclass(frozen=True)
class PendingPin:
    """One PIN whose reset may or may not have happened; never shows the new PIN."""

    name: str
    new_pin: str = field(repr=False)
    #: Its state before the reset was sent.
    before: PinStatus


def settle_returned_card(
    reader: str,
    identity: str | None,
    pending: Sequence[PendingPin],
    *,
    apdu_timeout: float = APDU_TIMEOUT,
) -> list[PinOutcome]:
    """What became of each pending PIN, read from the card now in ``reader``.

    ``identity`` is the card's (:meth:`hw.profiles.CardSession.identity`); another
    card leaves every outcome unknown with :class:`~hw.errors.DifferentCard`, and
    so does a card that cannot be read now (the error says why).
    """
    try:
        with PcscConnection(reader, apdu_timeout=apdu_timeout) as connection:
            return connection.in_transaction(lambda: _settle_all(connection, identity, pending))
    except CardError as error:
        return [PinOutcome(pin.name, Outcome.UNKNOWN, pin.before, error) for pin in pending]


def _settle_all(
    connection: PcscConnection, identity: str | None, pending: Sequence[PendingPin]
) -> list[PinOutcome]:
    session = open_session(connection)
    if identity is not None and session.identity() != identity:
        other = DifferentCard()
        return [PinOutcome(pin.name, Outcome.UNKNOWN, pin.before, other) for pin in pending]
    outcomes = []
    for pin in pending:
        try:
            outcomes.append(settle(session, pin.name, pin.new_pin, pin.before))
        except CardError as error:
            outcomes.append(PinOutcome(pin.name, Outcome.UNKNOWN, pin.before, error))
    with contextlib.suppress(CardError):
        session.logout()
    return outcomes
