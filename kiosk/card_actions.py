"""The card and card-service work behind the flow's effects (the imperative shell).

Each function does one effect's I/O and returns the event the flow gets back;
every failure becomes a reason code, never an exception the controller must
understand. Card reasons: see :func:`card_reason`; service reasons are the
card service's problem codes or ``card-service-unreachable`` / ``-timeout`` / ``-error``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hw.errors import CardError, CardRemoved, CardReset, NoCard, UnsupportedCard
from hw.pcsc import PcscConnection
from hw.pins import (
    AdminKeyBlocked,
    CryptogramRejected,
    PinBlocked,
    PinPolicyViolation,
    PinStatus,
    PukBlocked,
    PukSafetyMargin,
    WrongPin,
    WrongPuk,
)
from hw.profiles import open_session
from hw.siths.session import SithsSession
from hw.siths.trust import TrustStore
from kiosk.cardservice_client import CardServiceClient
from kiosk.cardservice_errors import (
    CardServiceError,
    CardServiceProblem,
    CardServiceTimeout,
    CardServiceUnreachable,
)
from kiosk.flow import events as ev
from kiosk.flow.model import CardFacts, PinFacts
from protocol.credential import UnlockKey

log = logging.getLogger(__name__)


def card_reason(error: CardError) -> tuple[str, int | None]:
    """Reason code (and PUK tries left) for a card-layer failure."""
    match error:
        case WrongPuk(tries_left=tries):
            return "wrong-puk", tries
        case PukBlocked():
            return "puk-blocked", None
        case PukSafetyMargin():
            return "puk-margin", None
        case CryptogramRejected():
            return "cryptogram-rejected", None
        case AdminKeyBlocked():
            return "admin-key-blocked", None
        case PinPolicyViolation():
            return "pin-policy", None
        case WrongPin() | PinBlocked():
            return "new-pin-not-verified", None
        case CardRemoved() | NoCard():
            return "card-removed", None
        case CardReset():
            return "card-reset", None
        case UnsupportedCard():
            return "unsupported-card", None
    return "card-error", None


def service_reason(error: CardServiceError) -> str:
    """Reason code for a card-service failure."""
    if isinstance(error, CardServiceProblem):
        return error.code
    if isinstance(error, CardServiceTimeout):
        return "card-service-timeout"
    if isinstance(error, CardServiceUnreachable):
        return "card-service-unreachable"
    return "card-service-error"


def _facts(statuses: list[PinStatus]) -> tuple[PinFacts, ...]:
    return tuple(PinFacts(s.name, s.role, s.tries_left, s.blocked) for s in statuses)


def read_card(session_id: int, reader: str, trust: TrustStore) -> ev.Event:
    """ReadCard: which card it is, its PIN states and certificate problems."""
    try:
        with PcscConnection(reader) as connection:
            session = open_session(connection)
            pins = _facts(session.pin_statuses())
            if isinstance(session, SithsSession):
                info = session.card_info(trust)
                facts = CardFacts(
                    profile="siths",
                    card_number=info.card_number,
                    holder_name=info.holder_name,
                    organisation=info.organisation,
                    valid_to=info.valid_to.date() if info.valid_to else None,
                    personal_identity_number=info.personal_identity_number,
                    pins=pins,
                    problems=tuple(problem.value for problem in info.problems),
                )
            else:
                facts = CardFacts(session.profile, None, None, None, None, None, pins)
    except CardError as error:
        return ev.CardReadFailed(session_id, card_reason(error)[0])
    return ev.CardRead(session_id, facts)


def _report(client: CardServiceClient, unlock_id: str | None, result: str, detail: str) -> None:
    if unlock_id is None:
        return
    try:
        client.report_outcome(unlock_id, result, detail)
    except CardServiceError as error:
        # The service keeps the audit; a lost report must not hide the card's state.
        log.warning("could not report the unlock outcome: %s", error)


def unlock_with_service(
    session_id: int,
    reader: str,
    order_ref: str,
    card_number: str,
    new_pins: tuple[tuple[str, str], ...],
    client: CardServiceClient,
    *,
    safety_margin: int,
    cancelled: Callable[[], bool] = lambda: False,
) -> ev.Event:
    """UnlockWithService: credential from the service, unblock on the card, report the outcome."""
    unlock_id: str | None = None
    try:
        with PcscConnection(reader) as connection:
            session = open_session(connection)
            if not isinstance(session, SithsSession):
                return ev.UnlockFailed(session_id, "unsupported-card")
            roles = {p.name: p.role for p in session.pin_statuses()}
            puk: bytes | None = None
            with connection.transaction():
                for pin_name, new_pin in new_pins:
                    if cancelled():
                        return ev.UnlockFailed(session_id, "cancelled")
                    role = roles.get(pin_name) or "identification"
                    if puk is None:
                        try:
                            credential = client.request_unlock(
                                order_ref, card_number, role, UnlockKey()
                            )
                        except CardServiceProblem as problem:
                            if problem.code != "challenge-required":
                                raise

                            def from_service(challenge: bytes, role: str = role) -> bytes:
                                nonlocal unlock_id
                                credential = client.request_unlock(
                                    order_ref, card_number, role, UnlockKey(), challenge
                                )
                                unlock_id = credential.unlock_id
                                return credential.secret

                            session.unblock_pin_with_admin_key(
                                pin_name, new_pin, from_service, safety_margin=safety_margin
                            )
                        else:
                            unlock_id = credential.unlock_id
                            puk = credential.secret
                    if puk is not None:
                        session.unblock_pin(
                            pin_name, puk.decode("ascii"), new_pin, safety_margin=safety_margin
                        )
                    session.verify(pin_name, new_pin)
                session.logout()
    except CardError as error:
        reason, tries = card_reason(error)
        _report(client, unlock_id, "card-removed" if reason == "card-removed" else "failed", reason)
        return ev.UnlockFailed(session_id, reason, tries)
    except CardServiceError as error:
        _report(client, unlock_id, "failed", service_reason(error))
        return ev.ServiceRefused(session_id, service_reason(error))
    finally:
        puk = None
    _report(client, unlock_id, "unlocked", "")
    return ev.UnlockFinished(session_id)


def unlock_with_puk(
    session_id: int,
    reader: str,
    puk: str,
    new_pins: tuple[tuple[str, str], ...],
    *,
    safety_margin: int,
) -> ev.Event:
    """UnlockWithPuk: the holder's own PUK, each PIN unblocked and verified."""
    try:
        with PcscConnection(reader) as connection:
            session = open_session(connection)
            with connection.transaction():
                for pin_name, new_pin in new_pins:
                    session.unblock_pin(pin_name, puk, new_pin, safety_margin=safety_margin)
                    session.verify(pin_name, new_pin)
                session.logout()
    except CardError as error:
        reason, tries = card_reason(error)
        return ev.UnlockFailed(session_id, reason, tries)
    return ev.UnlockFinished(session_id)
