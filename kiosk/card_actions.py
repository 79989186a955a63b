"""The card work behind the flow's effects, on the real PC/SC stack (the imperative shell).

:class:`PcscCardAccess` implements :class:`kiosk.ports.CardAccess`: each method
does one effect's I/O and returns the event the flow gets back. Every card
operation runs in one PC/SC transaction that begins with the application
SELECT, with a deadline on each command. Every failure becomes a
:class:`~protocol.reasons.Reason` (:mod:`kiosk.reasons`), never an exception
the controller must understand, and what became of an unlock is read from the
card (:mod:`hw.unblocking`; :mod:`kiosk.unlock_progress` makes one outcome of
it), if need be from the card put back in the reader (:meth:`resolve_unlock`).

The unlock reuses what the read of the same session learned (where the
application is, the PIN objects, each PIN's role) as long as the card has not
left the reader since (pcscd's card-event count is the same), so it sends the
application SELECT and the unlock's own commands, and reads no file.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from hw.errors import CardError, UnsupportedCard
from hw.pcsc import APDU_TIMEOUT, PcscConnection
from hw.pins import PinStatus
from hw.profiles import CardSession, open_session
from hw.settling import settle_returned_card
from hw.siths.session import SithsLayout, SithsSession
from hw.siths.trust import TrustStore
from hw.unblocking import unblock_pin
from kiosk.cardservice_client import UnlockCredential
from kiosk.cardservice_errors import CardServiceError, CardServiceProblem
from kiosk.flow import effects as fx
from kiosk.flow import events as ev
from kiosk.flow.model import CardFacts, PinFacts
from kiosk.ports import CardService
from kiosk.reasons import card_reason, service_reason
from kiosk.unlock_progress import UnlockProgress, pending_pins, settled, tell
from protocol.cardservice_values import PinRole
from protocol.credential import UnlockKey
from protocol.problems import ProblemCode
from protocol.reasons import Outcome, Reason, UnlockMechanism

log = logging.getLogger(__name__)


def _facts(statuses: list[PinStatus]) -> tuple[PinFacts, ...]:
    return tuple(PinFacts(s.name, s.role, s.tries_left, s.blocked) for s in statuses)


#: One PIN's reset, ready to run: the point of no return of its unblock.
ResetFor = Callable[[CardSession, str, str], Callable[[], None]]


@dataclass(frozen=True)
class _Learned:
    """What a session's read learned about the card in one reader, and when."""

    session_id: int
    #: pcscd's card-event count of the reader during the read (0: not kept, never reused).
    card_events: int
    layout: SithsLayout


class PcscCardAccess:
    """Reads and unlocks cards through pcscd; trusts the SITHS anchors it is given."""

    def __init__(self, trust: TrustStore | None, *, apdu_timeout: float = APDU_TIMEOUT) -> None:
        self.trust = trust
        self.apdu_timeout = apdu_timeout
        #: By reader: the last successful read of a SITHS card there.
        self._learned: dict[str, _Learned] = {}

    def _connect(self, reader: str) -> PcscConnection:
        return PcscConnection(reader, apdu_timeout=self.apdu_timeout)

    def read_card(self, session_id: int, reader: str) -> ev.Event:
        """Which card it is, its PIN states and certificate problems."""
        self._learned.pop(reader, None)
        try:
            with self._connect(reader) as connection:
                facts = connection.in_transaction(lambda: self._card_facts(connection, session_id))
        except CardError as error:
            return ev.CardReadFailed(session_id, card_reason(error))
        except Exception:  # a bug: said plainly, never a screen stuck on "reading"
            log.exception("reading the card failed")
            return ev.CardReadFailed(session_id, Reason.INTERNAL)
        return ev.CardRead(session_id, facts)

    def _card_facts(self, connection: PcscConnection, session_id: int) -> CardFacts:
        """The read phase: which card, its PIN states, its certificates' problems."""
        events = connection.card_events()  # before the card answers anything: see card_events
        session = open_session(connection)
        pins = _facts(session.pin_statuses())
        if not isinstance(session, SithsSession):
            return CardFacts(session.profile, None, None, None, None, None, pins)
        info = session.card_info(self.trust)
        self._learned[connection.reader] = _Learned(session_id, events, session.layout())
        return CardFacts(
            profile="siths",
            card_number=info.card_number,
            holder_name=info.holder_name,
            organisation=info.organisation,
            valid_to=info.valid_to.date() if info.valid_to else None,
            personal_identity_number=info.personal_identity_number,
            pins=pins,
            problems=tuple(Reason(problem.value) for problem in info.problems),
        )

    def _unlock(
        self,
        reader: str,
        progress: UnlockProgress,
        reset_for: ResetFor,
        cancelled: Callable[[], bool],
    ) -> ev.Event:
        """Each PIN unblocked and verified in one transaction; the outcome from the card."""

        def work() -> None:
            session = self._open_for_unlock(connection, progress.session_id)
            if not isinstance(session, SithsSession):
                raise UnsupportedCard("the kiosk unlocks SITHS cards only")
            for pin_name, new_pin in progress.new_pins.items():
                if pin_name in progress.unlocked:
                    continue  # done before another program reset the card
                if cancelled():
                    progress.refused = Reason.CANCELLED
                    return
                outcome = unblock_pin(
                    session, pin_name, new_pin, reset_for(session, pin_name, new_pin)
                )
                progress.record(outcome)
                if outcome.outcome is not Outcome.UNLOCKED:
                    break
            if not any(o.card_must_come_back for o in progress.outcomes.values()):
                with contextlib.suppress(CardError):
                    session.logout()

        try:
            with self._connect(reader) as connection:
                connection.in_transaction(work)
        except CardError as error:  # refused, or stopped, before that PIN's reset was sent
            progress.stopped = error
        except CardServiceError as error:  # refused before that PIN's reset was sent
            progress.refused = service_reason(error)
        except Exception:  # a bug: said plainly, and what the card did is not claimed
            log.exception("the unlock failed")
            progress.refused = Reason.INTERNAL
            progress.crashed = True
        return progress.finish()

    def _open_for_unlock(self, connection: PcscConnection, session_id: int) -> CardSession:
        """The session's card, from what its read learned if the card stayed in since."""
        learned = self._learned.get(connection.reader)
        events = connection.card_events()  # before the SELECT is answered: see card_events
        if learned is None or (learned.session_id, learned.card_events) != (session_id, events):
            return open_session(connection)
        return open_session(connection, learned.layout if events else None)

    def unlock_with_service(
        self,
        job: fx.UnlockWithService,
        service: CardService,
        *,
        safety_margin: int,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> ev.Event:
        """Credential from the service, unblock on the card, verify, report the outcome."""
        progress = UnlockProgress(job.session_id, job.new_pins, service)
        roles = dict(job.roles)
        issued: list[UnlockCredential] = []  # the PUK, once the service gave it (one per login)

        def reset_for(session: CardSession, pin_name: str, new_pin: str) -> Callable[[], None]:
            assert isinstance(session, SithsSession)  # _unlock unblocks SITHS cards only
            known = roles.get(pin_name) or session.pin_roles().get(pin_name)
            role = PinRole(known or PinRole.IDENTIFICATION)

            def with_puk() -> bool:
                """Unblock with the service's PUK; False when the card takes a cryptogram."""
                if not issued and progress.mechanism is not UnlockMechanism.ADMIN_KEY:
                    try:
                        issued.append(_service_credential(job, service, role, None))
                    except CardServiceProblem as problem:
                        if problem.code != ProblemCode.CHALLENGE_REQUIRED:
                            raise
                        progress.mechanism = UnlockMechanism.ADMIN_KEY
                    else:
                        progress.mechanism = UnlockMechanism(issued[0].mechanism)
                if not issued:
                    return False
                progress.credential(issued[0].unlock_id, pin_name)
                puk = issued[0].secret.decode("ascii")
                session.reset_pin(pin_name, puk, new_pin, safety_margin=safety_margin)
                return True

            def from_service(challenge: bytes) -> bytes:
                credential = _service_credential(job, service, role, challenge)
                progress.credential(credential.unlock_id, pin_name)
                return credential.secret

            def reset() -> None:
                if not with_puk():
                    session.reset_pin_with_admin_key(pin_name, new_pin, from_service)

            return reset

        return self._unlock(job.reader, progress, reset_for, cancelled)

    def unlock_with_puk(self, job: fx.UnlockWithPuk, *, safety_margin: int) -> ev.Event:
        """The holder's own PUK: each PIN unblocked and verified."""
        progress = UnlockProgress(job.session_id, job.new_pins, None, UnlockMechanism.PUK_LETTER)

        def reset_for(session: CardSession, pin_name: str, new_pin: str) -> Callable[[], None]:
            return lambda: session.reset_pin(
                pin_name, job.puk, new_pin, safety_margin=safety_margin
            )

        return self._unlock(job.reader, progress, reset_for, lambda: False)

    def resolve_unlock(self, job: fx.ResolveUnlock, service: CardService) -> ev.Event:
        """The card is back: what became of the unsettled PINs; the service told the end."""
        pending = job.pending
        try:
            outcomes = settle_returned_card(
                job.reader, job.card_number, pending_pins(pending), apdu_timeout=self.apdu_timeout
            )
        except Exception:  # a bug: still unknown, said plainly
            log.exception("settling the unlock failed")
            return ev.UnlockResolved(job.session_id, Outcome.UNKNOWN, Reason.INTERNAL)
        outcome, why, told = settled(pending, outcomes)
        for unlock_id, result, reason in told:
            tell(service, unlock_id, result, reason)
        return ev.UnlockResolved(job.session_id, outcome, why, pending.mechanism)


def _service_credential(
    job: fx.UnlockWithService, service: CardService, role: PinRole, challenge: bytes | None
) -> UnlockCredential:
    """The service's credential for one PIN, sealed to a key made for this request alone."""
    return service.request_unlock(job.order_ref, job.card_number, role, UnlockKey(), challenge)
