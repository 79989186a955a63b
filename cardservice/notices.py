"""The holder's e-mails: composed here, queued in the outbox in the caller's transaction.

Why queued, not sent: the outcome, its audit row and its e-mail are one transaction
(:mod:`cardservice.service`); :mod:`cardservice.mailer` sends from the outbox
afterwards, once, with retries. Each message gets its Message-ID and Date when it is
queued, so a retry sends the very same message. Swedish first, then English; no PIN,
no PUK (the service never has the PIN).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cardservice.records import Card, Records, Unlock
from protocol.reasons import Outcome, outcome_text

STOCKHOLM = ZoneInfo("Europe/Stockholm")
_SUPPORT = (
    "Om det inte var du, kontakta din lokala support omedelbart.",
    "If this was not you, contact your local support at once.",
)


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def _subject(card_number: str) -> str:
    return f"SITHS-kort {card_number}: upplåsning vid kiosk / SITHS card unlock at a kiosk"


def _letter(holder_name: str, swedish: str, english: str) -> str:
    return (
        f"Hej {holder_name},\n\n{swedish}\n\n{_SUPPORT[0]}\n\n---\n\n"
        f"Hello {holder_name},\n\n{english}\n\n{_SUPPORT[1]}\n"
    )


def compose_unlock_notice(
    *, holder_name: str, card_number: str, location: str, when: dt.datetime, result: Outcome | str
) -> tuple[str, str]:
    """Subject and body of the notice after an attempt."""
    stamp = _stamp(when)
    swedish = (
        f"{stamp} gjordes ett försök att låsa upp ditt SITHS-kort med nummer {card_number}"
        f" vid kiosken {location}. Resultat: {outcome_text('sv', result)}."
    )
    english = (
        f"At {stamp} (Swedish time) someone tried to unlock your SITHS card number"
        f" {card_number} at the kiosk {location}. Result: {outcome_text('en', result)}."
    )
    return _subject(card_number), _letter(holder_name, swedish, english)


def compose_resolved_notice(
    *,
    holder_name: str,
    card_number: str,
    location: str,
    attempted: dt.datetime,
    result: Outcome | str,
) -> tuple[str, str]:
    """Subject and body when an unknown outcome became known (the card was read again)."""
    stamp = _stamp(attempted)
    swedish = (
        f"Vi skrev tidigare att det var okänt hur det gick när ditt SITHS-kort {card_number}"
        f" skulle låsas upp {stamp} vid kiosken {location}. Nu är det känt:"
        f" {outcome_text('sv', result)}."
    )
    english = (
        f"We wrote earlier that it was not known what became of your SITHS card {card_number}"
        f" in the unlock at {stamp} (Swedish time) at the kiosk {location}. It is now known:"
        f" {outcome_text('en', result)}."
    )
    return _subject(card_number), _letter(holder_name, swedish, english)


def compose_overdue_notice(
    *, holder_name: str, card_number: str, location: str, attempted: dt.datetime
) -> tuple[str, str]:
    """Subject and body when the kiosk never said what became of the card."""
    stamp = _stamp(attempted)
    swedish = (
        f"{stamp} lämnades upplåsningsuppgifter för ditt SITHS-kort {card_number} ut till"
        f" kiosken {location}, men kiosken har inte meddelat hur det gick."
        f" Resultat: {outcome_text('sv', Outcome.UNKNOWN)}."
    )
    english = (
        f"At {stamp} (Swedish time) the means to unlock your SITHS card {card_number} were"
        f" given to the kiosk {location}, but the kiosk has not reported what became of the"
        f" card. Result: {outcome_text('en', Outcome.UNKNOWN)}."
    )
    return _subject(card_number), _letter(holder_name, swedish, english)


def _when(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


@dataclass(frozen=True)
class Notices:
    """Queues the holder's e-mails; ``mail_domain`` names the right side of each Message-ID."""

    mail_domain: str = "siths-kiosk.example"

    def _queue(
        self, records: Records, card: Card, unlock: Unlock, now: float, letter: tuple[str, str]
    ) -> None:
        message_id = f"<{uuid.uuid4()}@{self.mail_domain}>"
        records.queue_mail(now, message_id, card.email, letter[0], letter[1], unlock.unlock_id)

    def outcome(
        self, records: Records, card: Card, unlock: Unlock, location: str, now: float, result: str
    ) -> None:
        """The first outcome of an unlock."""
        letter = compose_unlock_notice(
            holder_name=card.holder_name,
            card_number=card.card_number,
            location=location,
            when=_when(now),
            result=result,
        )
        self._queue(records, card, unlock, now, letter)

    def resolved(
        self, records: Records, card: Card, unlock: Unlock, location: str, now: float, result: str
    ) -> None:
        """An unknown outcome that became known."""
        letter = compose_resolved_notice(
            holder_name=card.holder_name,
            card_number=card.card_number,
            location=location,
            attempted=_when(unlock.created),
            result=result,
        )
        self._queue(records, card, unlock, now, letter)

    def overdue(
        self, records: Records, card: Card, unlock: Unlock, location: str, now: float
    ) -> None:
        """No outcome came in time."""
        letter = compose_overdue_notice(
            holder_name=card.holder_name,
            card_number=card.card_number,
            location=location,
            attempted=_when(unlock.created),
        )
        self._queue(records, card, unlock, now, letter)
