"""``kiosk card status`` and ``kiosk card unblock``: the technician's first look at a card.

The report is plain data (:func:`status_report`); printing it as text or JSON
is the CLI's job. Unblocking reads the secrets from a stream the CLI provides
and never echoes, logs or keeps them beyond the call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hw import pcsc
from hw.errors import CardError, CardRemoved, NoCard, ReaderUnavailable, UnsupportedCard
from hw.pcsc import PcscConnection
from hw.pins import PinStatus
from hw.profiles import CardSession, open_session
from hw.siths.session import SithsSession
from hw.siths.trust import TrustStore
from protocol.card_rules import PUK_SAFETY_MARGIN


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


def read_card(reader: str, trust: TrustStore | None = None) -> CardReport | None:
    """Connect to ``reader`` and describe the card; ``None`` if there is none."""
    try:
        connection = PcscConnection(reader)
    except NoCard:
        return None
    with connection:
        try:
            atr = connection.atr
            session = open_session(connection)
        except CardRemoved:
            return None
        except UnsupportedCard as error:
            return CardReport(None, atr, [], str(error))
        try:
            pins = session.pin_statuses()
        except CardRemoved:
            return None
        except CardError as error:
            return CardReport(session.profile, atr, [], f"could not read PIN state: {error}")
        try:
            return CardReport(session.profile, atr, pins, holder=_holder(session, trust))
        except CardRemoved:
            return None
        except CardError as error:
            return CardReport(
                session.profile, atr, pins, f"could not read the certificates: {error}"
            )


def status_report(trust: TrustStore | None = None) -> list[ReaderReport]:
    """Every reader pcscd knows and the card in each."""
    with pcsc.pcsc_context() as context:
        readers = pcsc.list_readers(context)
    reports = []
    for reader in readers:
        try:
            card = read_card(reader, trust)
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


SecretReader = Callable[[str], str]


def unblock(
    reader: str,
    pin_name: str | None,
    read_secret: SecretReader,
    *,
    safety_margin: int = PUK_SAFETY_MARGIN,
) -> PinStatus:
    """Unblock a PIN with the holder's PUK and prove the new PIN by verifying it.

    ``read_secret(prompt)`` supplies the PUK and then the new PIN. The card is
    held in a PC/SC transaction from the PUK check to the verification.
    """
    with PcscConnection(reader) as connection:
        session = open_session(connection)
        names = session.unblockable_pins()
        name = pin_name or names[0]
        if name not in names:
            raise UnsupportedCard(
                f"this {session.profile} card has no PIN {name!r}; it has: " + ", ".join(names)
            )
        puk = read_secret("PUK: ")
        new_pin = read_secret("New PIN: ")
        try:
            with connection.transaction():
                status = session.unblock_pin(name, puk, new_pin, safety_margin=safety_margin)
                try:
                    session.verify(name, new_pin)
                finally:
                    session.logout()
        finally:
            del puk, new_pin
        return status
