"""``kiosk card status`` and ``kiosk card unblock``: the technician's first look at a card.

The report is plain data (:func:`status_report`); printing it as text or JSON
is the CLI's job. Every read runs in one PC/SC transaction with a deadline on
each command. Unblocking reads the secrets from a stream the CLI provides and
never echoes, logs or keeps them beyond the call; what became of the PIN is read
from the card (:mod:`hw.unblocking`), if need be from the card put back in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from hw import pcsc
from hw.apdu_processor import Transport
from hw.errors import (
    CardError,
    CardRemoved,
    NoCard,
    PcscUnavailable,
    ReaderUnavailable,
    UnexpectedResponse,
    UnsupportedCard,
)
from hw.pcsc import APDU_TIMEOUT, PcscConnection
from hw.pins import PinStatus
from hw.profiles import CardSession, open_session
from hw.settling import PendingPin, settle_returned_card
from hw.siths.session import SithsSession
from hw.siths.trust import TrustStore
from hw.status_words import ApduError
from hw.unblocking import PinOutcome
from kiosk.pin_policy import PinRejection, check_new_pin
from protocol.card_rules import PUK_SAFETY_MARGIN
from protocol.reasons import Outcome


@dataclass(frozen=True)
class HolderReport:
    """Who the card belongs to (SITHS cards), and what is wrong with it."""

    name: str | None
    hsa_id: str | None
    organisation: str | None
    card_number: str | None
    valid_to: str | None
    problems: list[str]

    def to_json(self) -> dict[str, object]:
        """The ``holder`` object of the JSON report."""
        return {
            "name": self.name,
            "hsa_id": self.hsa_id,
            "organisation": self.organisation,
            "card_number": self.card_number,
            "valid_to": self.valid_to,
            "problems": self.problems,
        }


@dataclass(frozen=True)
class CardReport:
    """One card as ``card status`` describes it."""

    profile: str | None
    atr: bytes
    pins: list[PinStatus]
    problem: str | None = None
    holder: HolderReport | None = None

    def to_json(self) -> dict[str, object]:
        """The documented JSON shape (docs/card-commands.md)."""
        data: dict[str, object] = {
            "profile": self.profile,
            "atr": self.atr.hex().upper(),
            "pins": [pin.to_json() for pin in self.pins],
        }
        if self.holder:
            data["holder"] = self.holder.to_json()
        if self.problem:
            data["problem"] = self.problem
        return data


@dataclass(frozen=True)
class ReaderReport:
    """One reader and the card in it (``None`` when empty)."""

    reader: str
    card: CardReport | None

    def to_json(self) -> dict[str, object]:
        """``{"reader": ..., "card": ...}``."""
        return {"reader": self.reader, "card": None if self.card is None else self.card.to_json()}


def _holder(session: CardSession, trust: TrustStore | None) -> HolderReport | None:
    if not isinstance(session, SithsSession):
        return None
    info = session.card_info(trust)
    return HolderReport(
        name=info.holder_name,
        hsa_id=info.hsa_id,
        organisation=info.organisation,
        card_number=info.card_number,
        valid_to=info.valid_to.date().isoformat() if info.valid_to else None,
        problems=[problem.value for problem in info.problems],
    )


#: What the card's data can get wrong (the connection itself is fine): said in the report.
_DATA_PROBLEMS = (ApduError, UnexpectedResponse)


def _describe(connection: Transport, atr: bytes, trust: TrustStore | None) -> CardReport:
    """The read phase: probe, PIN states, holder (one transaction, from the SELECT)."""
    try:
        session = open_session(connection)
    except UnsupportedCard as error:
        return CardReport(None, atr, [], str(error))
    except _DATA_PROBLEMS as error:
        return CardReport(None, atr, [], f"could not read the card: {error}")
    try:
        pins = session.pin_statuses()
    except _DATA_PROBLEMS as error:
        return CardReport(session.profile, atr, [], f"could not read PIN state: {error}")
    try:
        return CardReport(session.profile, atr, pins, holder=_holder(session, trust))
    except _DATA_PROBLEMS as error:
        return CardReport(session.profile, atr, pins, f"could not read the certificates: {error}")


def read_card(
    reader: str, trust: TrustStore | None = None, *, apdu_timeout: float = APDU_TIMEOUT
) -> CardReport | None:
    """Connect to ``reader`` and describe the card; ``None`` if there is none."""
    try:
        connection = PcscConnection(reader, apdu_timeout=apdu_timeout)
    except NoCard:
        return None
    atr = b""
    with connection:
        try:
            atr = connection.atr
            return connection.in_transaction(lambda: _describe(connection, atr, trust))
        except CardRemoved:
            return None
        except PcscUnavailable:
            raise  # pcscd went away: the whole report is off (exit 3), not this card
        except CardError as error:
            return CardReport(None, atr, [], str(error))


def status_report(
    trust: TrustStore | None = None, *, apdu_timeout: float = APDU_TIMEOUT
) -> list[ReaderReport]:
    """Every reader pcscd knows and the card in each."""
    with pcsc.pcsc_context() as context:
        readers = pcsc.list_readers(context)
    reports = []
    for reader in readers:
        try:
            card = read_card(reader, trust, apdu_timeout=apdu_timeout)
        except PcscUnavailable:
            raise
        except CardError as error:
            card = CardReport(None, b"", [], str(error))
        reports.append(ReaderReport(reader, card))
    return reports


def choose_reader(requested: str | None) -> str:
    """The reader to work on: the named one, or the only one holding a card."""
    with pcsc.pcsc_context() as context:
        readers = pcsc.list_readers(context)
        if not readers:
            raise ReaderUnavailable("(none)", "no card reader is connected")
        if requested is not None:
            matches = [r for r in readers if r == requested] or [
                r for r in readers if requested.lower() in r.lower()
            ]
            if len(matches) != 1:
                raise ReaderUnavailable(
                    requested,
                    "no such reader" if not matches else "matches several readers",
                )
            return matches[0]
        with_card = [s.reader for s in pcsc.reader_states(context, readers) if s.card_present]
    if not with_card:
        raise NoCard(", ".join(readers))
    if len(with_card) > 1:
        raise ReaderUnavailable(
            ", ".join(with_card), "several readers hold a card; choose one with --reader"
        )
    return with_card[0]


def choose_pin(session: CardSession, requested: str | None) -> str:
    """The PIN to unblock: the card's first, or the one ``requested`` names.

    A name is the card's label, a unique part of it in any case ("signature"),
    or the PIN's role ("identification", "signature").
    """
    names = session.unblockable_pins()
    if requested is None:
        return names[0]
    if requested in names:
        return requested
    wanted = requested.casefold()
    matches = [name for name in names if wanted in name.casefold()]
    if len(matches) != 1:
        roles = session.pin_roles()
        matches = [name for name in names if (roles.get(name) or "").casefold() == wanted]
    if len(matches) == 1:
        return matches[0]
    raise UnsupportedCard(
        f"this {session.profile} card has no PIN {requested!r}; it has: " + ", ".join(names)
    )


SecretReader = Callable[[str], str]


class NewPinRejected(ValueError):
    """The new PIN breaks the kiosk's PIN rules (:mod:`kiosk.pin_policy`); nothing was sent."""

    def __init__(self, rejection: PinRejection) -> None:
        super().__init__(rejection.value)
        self.rejection = rejection


@dataclass(frozen=True)
class UnblockResult:
    """What ``card unblock`` did: the PIN, and what became of it as the card says."""

    reader: str
    pin: str
    outcome: Outcome
    #: Why it is not unlocked, or why that is not known; ``None`` when it is.
    error: CardError | None = None


@dataclass(frozen=True)
class _Prepared:
    session: CardSession
    pin: str
    personal_identity_number: str | None
    identity: str | None


def _prepare(connection: Transport, pin_name: str | None) -> _Prepared:
    """The read phase of an unblock: which card, which PIN, whose birth date."""
    session = open_session(connection)
    pin = choose_pin(session, pin_name)
    if isinstance(session, SithsSession):
        try:
            info = session.card_info(None)
        except UnexpectedResponse:  # a broken certificate: no birth date rule, no identity
            return _Prepared(session, pin, None, None)
        return _Prepared(session, pin, info.personal_identity_number, info.card_number)
    return _Prepared(session, pin, None, session.identity())


def _unblock_once(
    session: CardSession, pin: str, puk: str, new_pin: str, safety_margin: int
) -> PinOutcome:
    """SELECT, unblock and verify, log out: the body of the unblock's transaction."""
    session.select()
    outcome = session.unblock_pin(pin, puk, new_pin, safety_margin=safety_margin)
    if not outcome.card_must_come_back:
        with contextlib.suppress(CardError):
            session.logout()
    return outcome


def unblock(
    reader: str,
    pin_name: str | None,
    read_secret: SecretReader,
    *,
    safety_margin: int = PUK_SAFETY_MARGIN,
    apdu_timeout: float = APDU_TIMEOUT,
    card_back: Callable[[], bool] = lambda: False,
) -> UnblockResult:
    """Unblock a PIN with the holder's PUK and prove the new PIN by verifying it.

    ``read_secret(prompt)`` supplies the PUK and then the new PIN, which must
    pass the kiosk's PIN rules (:class:`NewPinRejected`). A refusal before the
    reset was sent raises the card layer's typed error (nothing changed). After
    it, the result says what the card says; when the card left mid-command,
    ``card_back()`` is asked to wait for it to be put back, and the outcome is
    read from it then.
    """
    with PcscConnection(reader, apdu_timeout=apdu_timeout) as connection:
        prepared = connection.in_transaction(lambda: _prepare(connection, pin_name))
        puk = read_secret("PUK: ")
        new_pin = read_secret("New PIN: ")
        rejection = check_new_pin(
            new_pin, new_pin, personal_identity_number=prepared.personal_identity_number
        )
        if rejection is not None:
            raise NewPinRejected(rejection)
        outcome = connection.in_transaction(
            lambda: _unblock_once(prepared.session, prepared.pin, puk, new_pin, safety_margin)
        )
    if outcome.card_must_come_back and card_back():
        pending = [PendingPin(prepared.pin, new_pin, outcome.before)]
        (outcome,) = settle_returned_card(
            reader, prepared.identity, pending, apdu_timeout=apdu_timeout
        )
    return UnblockResult(reader, prepared.pin, outcome.outcome, outcome.error)
