"""The card work behind the flow's effects, on the real PC/SC stack (the imperative shell).

:class:`PcscCardAccess` implements :class:`kiosk.ports.CardAccess`: each method
does one effect's I/O and returns the event the flow gets back. Every failure
becomes a :class:`~protocol.reasons.Reason` (:mod:`kiosk.reasons`), never an
exception the controller must understand, and an unlock that failed says what
is known of the card: unchanged, unknown, or unlocked in part.
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
from kiosk.cardservice_client import UnlockCredential
from kiosk.cardservice_errors import CardServiceError, CardServiceProblem
from kiosk.flow import effects as fx
from kiosk.flow import events as ev
from kiosk.flow.model import CardFacts, PinFacts
from kiosk.ports import CardService
from kiosk.reasons import NOTHING_CHANGED, card_reason, service_reason, tries_left
from protocol.cardservice_values import PinRole
from protocol.credential import UnlockKey
from protocol.problems import ProblemCode
from protocol.reasons import Outcome, Reason, UnlockMechanism

log = logging.getLogger(__name__)


def _facts(statuses: list[PinStatus]) -> tuple[PinFacts, ...]:
    return tuple(PinFacts(s.name, s.role, s.tries_left, s.blocked) for s in statuses)


def _failed(
    session_id: int, error: CardError, mechanism: UnlockMechanism | None
) -> ev.UnlockFailed:
    reason = card_reason(error)
    outcome = Outcome.NOT_UNLOCKED if reason in NOTHING_CHANGED else Outcome.UNKNOWN
    return ev.UnlockFailed(session_id, reason, tries_left(error), outcome, mechanism)


def _service_credential(
    job: fx.UnlockWithService, service: CardService, role: PinRole, challenge: bytes | None
) -> UnlockCredential:
    """The service's credential for one PIN, sealed to a key made for this request alone."""
    return service.request_unlock(job.order_ref, job.card_number, role, UnlockKey(), challenge)


class _Progress:
    """How far a service unlock got: which PINs are unlocked, what the service was told.

    Each credential's outcome goes to the card service once, and says what became
    of the card: a PIN that was unblocked and verifies stays unlocked whatever
    fails after it.
    """

    def __init__(self, job: fx.UnlockWithService, service: CardService) -> None:
        self.session_id = job.session_id
        self.pins = len(job.new_pins)
        self.service = service
        self.unlock_id: str | None = None
        self.mechanism: UnlockMechanism | None = None
        self.unlocked: list[str] = []
        self._told: set[str] = set()

    def tell(self, outcome: Outcome, reason: Reason | None = None) -> None:
        """Report the current credential's outcome (once; a lost report is only logged)."""
        unlock_id = self.unlock_id
        if unlock_id is None or unlock_id in self._told:
            return
        self._told.add(unlock_id)
        try:
            self.service.report_outcome(unlock_id, outcome, reason)
        except CardServiceError as error:
            # The service keeps the audit; a lost report must not hide the card's state.
            log.warning("could not report the unlock outcome: %s", error)

    def failed(self, reason: Reason, outcome: Outcome, tries: int | None = None) -> ev.Event:
        """The event for a failure, true to the PINs already unlocked in this visit."""
        if len(self.unlocked) == self.pins:  # the card left after the last PIN verified
            self.tell(Outcome.UNLOCKED)
            return ev.UnlockFinished(self.session_id, self.mechanism)
        if self.unlocked:
            self.tell(Outcome.UNLOCKED, Reason.PARTLY_UNLOCKED)
            return ev.UnlockFailed(
                self.session_id, Reason.PARTLY_UNLOCKED, None, Outcome.UNLOCKED, self.mechanism
            )
        self.tell(outcome, reason)
        return ev.UnlockFailed(self.session_id, reason, tries, outcome, self.mechanism)


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
        progress = _Progress(job, service)
        try:
            with PcscConnection(job.reader) as connection:
                session = open_session(connection)
                if not isinstance(session, SithsSession):
                    return ev.UnlockFailed(job.session_id, Reason.UNSUPPORTED_CARD)
                roles = {p.name: p.role for p in session.pin_statuses()}
                with connection.transaction():
                    for pin_name, new_pin in job.new_pins:
                        if cancelled():
                            return progress.failed(Reason.CANCELLED, Outcome.NOT_UNLOCKED)
                        role = PinRole(roles.get(pin_name) or PinRole.IDENTIFICATION)
                        self._unblock(
                            job, session, pin_name, new_pin, role, progress, safety_margin
                        )
                        session.verify(pin_name, new_pin)
                        progress.unlocked.append(pin_name)
                        if progress.mechanism is UnlockMechanism.ADMIN_KEY:
                            progress.tell(Outcome.UNLOCKED)  # one credential per PIN
                    session.logout()
        except CardError as error:
            failure = _failed(job.session_id, error, progress.mechanism)
            return progress.failed(failure.reason, failure.outcome, failure.tries_left)
        except CardServiceError as error:
            # Refused before this PIN's reset was sent: nothing changed on it.
            if progress.unlocked:
                return progress.failed(service_reason(error), Outcome.NOT_UNLOCKED)
            progress.tell(Outcome.NOT_UNLOCKED, service_reason(error))
            return ev.ServiceRefused(job.session_id, service_reason(error))
        progress.tell(Outcome.UNLOCKED)
        return ev.UnlockFinished(job.session_id, progress.mechanism)

    @staticmethod
    def _unblock(
        job: fx.UnlockWithService,
        session: SithsSession,
        pin_name: str,
        new_pin: str,
        role: PinRole,
        progress: _Progress,
        safety_margin: int,
    ) -> None:
        """Unblock one PIN: with the service's PUK, or its cryptogram for the card's challenge."""
        if progress.mechanism is not UnlockMechanism.ADMIN_KEY:
            try:
                credential = _service_credential(job, progress.service, role, None)
            except CardServiceProblem as problem:
                if problem.code != ProblemCode.CHALLENGE_REQUIRED:
                    raise
            else:
                progress.unlock_id = credential.unlock_id
                progress.mechanism = UnlockMechanism(credential.mechanism)
                puk = credential.secret.decode("ascii")
                session.unblock_pin(pin_name, puk, new_pin, safety_margin=safety_margin)
                return
        progress.mechanism = UnlockMechanism.ADMIN_KEY

        def from_service(challenge: bytes) -> bytes:
            credential = _service_credential(job, progress.service, role, challenge)
            progress.unlock_id = credential.unlock_id
            return credential.secret

        session.unblock_pin_with_admin_key(
            pin_name, new_pin, from_service, safety_margin=safety_margin
        )

    def unlock_with_puk(self, job: fx.UnlockWithPuk, *, safety_margin: int) -> ev.Event:
        """The holder's own PUK: each PIN unblocked and verified."""
        unlocked = 0
        try:
            with PcscConnection(job.reader) as connection:
                session = open_session(connection)
                with connection.transaction():
                    for pin_name, new_pin in job.new_pins:
                        session.unblock_pin(pin_name, job.puk, new_pin, safety_margin=safety_margin)
                        session.verify(pin_name, new_pin)
                        unlocked += 1
                    session.logout()
        except CardError as error:
            failure = _failed(job.session_id, error, UnlockMechanism.PUK_LETTER)
            if unlocked == len(job.new_pins):  # the card left after the last PIN verified
                return ev.UnlockFinished(job.session_id, UnlockMechanism.PUK_LETTER)
            if unlocked:
                return ev.UnlockFailed(
                    job.session_id,
                    Reason.PARTLY_UNLOCKED,
                    None,
                    Outcome.UNLOCKED,
                    UnlockMechanism.PUK_LETTER,
                )
            return failure
        return ev.UnlockFinished(job.session_id, UnlockMechanism.PUK_LETTER)
