"""The card work behind the flow's effects, on the real PC/SC stack (the imperative shell).

:class:`PcscCardAccess` implements :class:`kiosk.ports.CardAccess`: each method
does one effect's I/O and returns the event the flow gets back. Every failure
becomes a :class:`~protocol.reasons.Reason` (:mod:`kiosk.reasons`), never an
exception the controller must understand, and an unlock that failed says
whether the card is known to be unchanged or its state is unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hw.errors import CardError
from hw.pcsc import PcscConnection
from hw.pins import PinStatus
from hw.profiles import open_session
from hw.siths.session import SithsSession
from hw.siths.trust import TrustStore
from kiosk.cardservice_errors import CardServiceError, CardServiceProblem
from kiosk.flow import effects as fx
from kiosk.flow import events as ev
from kiosk.flow.model import CardFacts, PinFacts
from kiosk.ports import CardService
from kiosk.reasons import NOTHING_CHANGED, card_reason, service_reason, tries_left
from protocol.credential import UnlockKey
from protocol.reasons import Outcome, Reason

log = logging.getLogger(__name__)

#: How an unlock with the holder's own PUK letter is named in reports.
PUK_LETTER = "puk-letter"


def _facts(statuses: list[PinStatus]) -> tuple[PinFacts, ...]:
    return tuple(PinFacts(s.name, s.role, s.tries_left, s.blocked) for s in statuses)


def _failed(session_id: int, error: CardError, mechanism: str | None) -> ev.UnlockFailed:
    reason = card_reason(error)
    outcome = Outcome.NOT_UNLOCKED if reason in NOTHING_CHANGED else Outcome.UNKNOWN
    return ev.UnlockFailed(session_id, reason, tries_left(error), outcome, mechanism)


def _report(service: CardService, unlock_id: str | None, result: str, detail: str | None) -> None:
    if unlock_id is None:
        return
    try:
        service.report_outcome(unlock_id, result, detail)
    except CardServiceError as error:
        # The service keeps the audit; a lost report must not hide the card's state.
        log.warning("could not report the unlock outcome: %s", error)


class PcscCardAccess:
    """Reads and unlocks cards through pcscd; trusts the SITHS anchors it is given."""

    def __init__(self, trust: TrustStore | None) -> None:
        self.trust = trust

    def read_card(self, session_id: int, reader: str) -> ev.Event:
        """Which card it is, its PIN states and certificate problems."""
        try:
            with PcscConnection(reader) as connection:
                session = open_session(connection)
                pins = _facts(session.pin_statuses())
                if not isinstance(session, SithsSession):
                    facts = CardFacts(session.profile, None, None, None, None, None, pins)
                    return ev.CardRead(session_id, facts)
                info = session.card_info(self.trust)
                facts = CardFacts(
                    profile="siths",
                    card_number=info.card_number,
                    holder_name=info.holder_name,
                    organisation=info.organisation,
                    valid_to=info.valid_to.date() if info.valid_to else None,
                    personal_identity_number=info.personal_identity_number,
                    pins=pins,
                    problems=tuple(Reason(problem.value) for problem in info.problems),
                )
        except CardError as error:
            return ev.CardReadFailed(session_id, card_reason(error))
        return ev.CardRead(session_id, facts)

    def unlock_with_service(
        self,
        job: fx.UnlockWithService,
        service: CardService,
        *,
        safety_margin: int,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> ev.Event:
        """Credential from the service, unblock on the card, verify, report the outcome."""
        unlock_id: str | None = None
        mechanism: str | None = None
        try:
            with PcscConnection(job.reader) as connection:
                session = open_session(connection)
                if not isinstance(session, SithsSession):
                    return ev.UnlockFailed(job.session_id, Reason.UNSUPPORTED_CARD)
                roles = {p.name: p.role for p in session.pin_statuses()}
                puk: bytes | None = None
                with connection.transaction():
                    for pin_name, new_pin in job.new_pins:
                        if cancelled():
                            return ev.UnlockFailed(job.session_id, Reason.CANCELLED)
                        role = roles.get(pin_name) or "identification"
                        if puk is None:
                            try:
                                credential = service.request_unlock(
                                    job.order_ref, job.card_number, role, UnlockKey()
                                )
                            except CardServiceProblem as problem:
                                if problem.code != "challenge-required":
                                    raise
                                mechanism = "admin-key"

                                def from_service(challenge: bytes, role: str = role) -> bytes:
                                    nonlocal unlock_id
                                    credential = service.request_unlock(
                                        job.order_ref, job.card_number, role, UnlockKey(), challenge
                                    )
                                    unlock_id = credential.unlock_id
                                    return credential.secret

                                session.unblock_pin_with_admin_key(
                                    pin_name, new_pin, from_service, safety_margin=safety_margin
                                )
                            else:
                                unlock_id = credential.unlock_id
                                mechanism = credential.mechanism
                                puk = credential.secret
                        if puk is not None:
                            session.unblock_pin(
                                pin_name, puk.decode("ascii"), new_pin, safety_margin=safety_margin
                            )
                        session.verify(pin_name, new_pin)
                    session.logout()
        except CardError as error:
            failed = _failed(job.session_id, error, mechanism)
            result = "card-removed" if failed.reason is Reason.CARD_REMOVED else "failed"
            _report(service, unlock_id, result, failed.reason.value)
            return failed
        except CardServiceError as error:
            _report(service, unlock_id, "failed", service_reason(error).value)
            return ev.ServiceRefused(job.session_id, service_reason(error))
        finally:
            puk = None
        _report(service, unlock_id, "unlocked", None)
        return ev.UnlockFinished(job.session_id, mechanism)

    def unlock_with_puk(self, job: fx.UnlockWithPuk, *, safety_margin: int) -> ev.Event:
        """The holder's own PUK: each PIN unblocked and verified."""
        try:
            with PcscConnection(job.reader) as connection:
                session = open_session(connection)
                with connection.transaction():
                    for pin_name, new_pin in job.new_pins:
                        session.unblock_pin(pin_name, job.puk, new_pin, safety_margin=safety_margin)
                        session.verify(pin_name, new_pin)
                    session.logout()
        except CardError as error:
            return _failed(job.session_id, error, PUK_LETTER)
        return ev.UnlockFinished(job.session_id, PUK_LETTER)
