"""Reads and writes of the service's records, inside one transaction of :mod:`cardservice.store`.

Each method is one statement or two; the caller decides what belongs together.
Updates that settle a race return whether this transaction won it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, update

from cardservice.mail_records import MailRecords
from cardservice.schema import (
    attempts,
    audit,
    cards,
    idempotency,
    kiosks,
    logins,
    meta,
    unlocks,
)

# The statements of every request, built once with their values bound at execution:
# building a statement and its cache key was half of the service's CPU per unlock
# (bench/cardservice_load.py under py-spy), more than TLS, JSON and HPKE together.
_SETTING = select(meta.c.value).where(meta.c.key == bindparam("key"))
_KIOSK = select(kiosks).where(kiosks.c.kiosk_id == bindparam("kiosk_id"))
_CARD = select(cards).where(cards.c.card_number == bindparam("card_number"))
_CARD_LOCKED = _CARD.with_for_update()
_LOGIN = select(logins).where(logins.c.order_ref == bindparam("order_ref"))
_PENDING_LOGINS_OF = select(logins).where(
    logins.c.person == bindparam("person"), logins.c.status == "pending"
)
_LOGINS_FROM_KIOSK = select(func.count()).where(
    logins.c.kiosk_id == bindparam("kiosk_id"), logins.c.created >= bindparam("since")
)
_UNLOCK = select(unlocks).where(unlocks.c.unlock_id == bindparam("unlock_id"))
_ATTEMPTS_FOR_CARD = select(func.count()).where(
    attempts.c.card_number == bindparam("card_number"), attempts.c.at >= bindparam("since")
)
_REMEMBERED = select(idempotency.c.fingerprint, idempotency.c.status, idempotency.c.body).where(
    idempotency.c.kiosk_id == bindparam("kiosk_id"), idempotency.c.key == bindparam("key")
)
_ADD_LOGIN = insert(logins)
_ADD_UNLOCK = insert(unlocks)
_ADD_ATTEMPT = insert(attempts)
_REMEMBER = insert(idempotency)
_AUDIT = insert(audit)


@dataclass(frozen=True)
class Kiosk:
    """A registered kiosk."""

    kiosk_id: str
    location: str
    revoked_at: float | None


@dataclass(frozen=True)
class Card:
    """A registered card and its holder."""

    card_number: str
    holder_name: str
    hsa_id: str
    personal_identity_number: str
    email: str
    product_code: str
    mechanism: str
    secret_sealed: bytes


@dataclass(frozen=True)
class Login:
    """One login for one card: the service's order and the identity provider's."""

    order_ref: str
    idp_order_ref: str
    kiosk_id: str
    card_number: str
    person: str
    created: float
    expires: float
    status: str
    hint: str | None
    completed_by: str | None
    completed_name: str | None
    completed_hsa_id: str | None
    credential_issued: bool


@dataclass(frozen=True)
class Unlock:
    """A credential handed out, and what became of the card."""

    unlock_id: str
    order_ref: str
    kiosk_id: str
    card_number: str
    pin_role: str
    mechanism: str
    created: float
    expires: float
    outcome: str | None
    outcome_at: float | None
    outcome_by: str | None


@dataclass(frozen=True)
class Remembered:
    """The first answer to a kiosk's Idempotency-Key."""

    fingerprint: str
    status: int
    body: str


def _build(kind: type, row: Row[Any] | None) -> Any:
    return None if row is None else kind(**row._asdict())


class Records(MailRecords):
    """The queries, on one connection inside one transaction."""

    def __init__(self, connection: Connection) -> None:
        self.db = connection

    # -- settings and registry -------------------------------------------------------

    def get_setting(self, key: str, default: str = "") -> str:
        """A value of the meta table."""
        value = self.db.scalar(_SETTING, {"key": key})
        return default if value is None else str(value)

    def set_setting(self, key: str, value: str) -> None:
        """Store a value in the meta table."""
        self.db.execute(delete(meta).where(meta.c.key == key))
        self.db.execute(insert(meta).values(key=key, value=value))

    def add_kiosk(self, kiosk_id: str, location: str) -> None:
        """Register (or move, or reinstate) a kiosk."""
        self.db.execute(delete(kiosks).where(kiosks.c.kiosk_id == kiosk_id))
        self.db.execute(insert(kiosks).values(kiosk_id=kiosk_id, location=location))

    def kiosk(self, kiosk_id: str) -> Kiosk | None:
        """A registered kiosk, revoked or not."""
        return _build(Kiosk, self.db.execute(_KIOSK, {"kiosk_id": kiosk_id}).first())

    def kiosks(self) -> list[Kiosk]:
        """Every registered kiosk."""
        return [
            Kiosk(**row._asdict())
            for row in self.db.execute(select(kiosks).order_by(kiosks.c.kiosk_id))
        ]

    def revoke_kiosk(self, kiosk_id: str, at: float) -> bool:
        """Refuse the kiosk from now on; whether it was registered."""
        done = self.db.execute(
            update(kiosks).where(kiosks.c.kiosk_id == kiosk_id).values(revoked_at=at)
        )
        return done.rowcount == 1

    def add_card(self, card: Card) -> None:
        """Register (or re-register) a card."""
        self.db.execute(delete(cards).where(cards.c.card_number == card.card_number))
        self.db.execute(insert(cards).values(**card.__dict__))

    def card(self, card_number: str, *, lock: bool = False) -> Card | None:
        """A registered card; ``lock`` holds it until the transaction ends (PostgreSQL)."""
        query = _CARD_LOCKED if lock else _CARD
        return _build(Card, self.db.execute(query, {"card_number": card_number}).first())

    # -- logins ----------------------------------------------------------------------------

    def add_login(self, login: Login) -> None:
        """Store a new login."""
        self.db.execute(_ADD_LOGIN, login.__dict__)

    def login(self, order_ref: str) -> Login | None:
        """A login by its order reference."""
        return _build(Login, self.db.execute(_LOGIN, {"order_ref": order_ref}).first())

    def pending_logins_of(self, person: str) -> list[Login]:
        """A person's logins that are still pending."""
        rows = self.db.execute(_PENDING_LOGINS_OF, {"person": person})
        return [Login(**row._asdict()) for row in rows]

    def update_login(
        self, order_ref: str, *, only_if: dict[str, object] | None = None, **fields: object
    ) -> bool:
        """Change a login, if its columns still hold ``only_if``; whether it changed."""
        query = update(logins).where(logins.c.order_ref == order_ref)
        for name, value in (only_if or {}).items():
            query = query.where(logins.c[name] == value)
        return self.db.execute(query.values(**fields)).rowcount == 1

    def logins_from_kiosk(self, kiosk_id: str, since: float) -> int:
        """Logins a kiosk started since a time."""
        found = self.db.scalar(_LOGINS_FROM_KIOSK, {"kiosk_id": kiosk_id, "since": since})
        return int(found or 0)

    # -- unlocks and attempts --------------------------------------------------------------

    def add_unlock(self, unlock: Unlock) -> None:
        """Store an issued credential."""
        self.db.execute(_ADD_UNLOCK, unlock.__dict__)

    def unlock(self, unlock_id: str) -> Unlock | None:
        """An issued credential."""
        return _build(Unlock, self.db.execute(_UNLOCK, {"unlock_id": unlock_id}).first())

    def unlocks(self) -> list[Unlock]:
        """Every issued credential, oldest first."""
        return [
            Unlock(**row._asdict())
            for row in self.db.execute(select(unlocks).order_by(unlocks.c.created))
        ]

    def set_outcome(
        self, unlock_id: str, outcome: str, at: float, by: str, *, was: str | None
    ) -> bool:
        """Record an outcome if the current one is still ``was``; whether this call did it."""
        current = unlocks.c.outcome.is_(None) if was is None else unlocks.c.outcome == was
        query = update(unlocks).where(unlocks.c.unlock_id == unlock_id, current)
        return (
            self.db.execute(query.values(outcome=outcome, outcome_at=at, outcome_by=by)).rowcount
            == 1
        )

    def overdue_unlocks(self, created_before: float, limit: int = 100) -> list[Unlock]:
        """Credentials handed out before a time whose outcome never came."""
        query = (
            select(unlocks)
            .where(unlocks.c.outcome.is_(None), unlocks.c.created < created_before)
            .order_by(unlocks.c.created)
            .limit(limit)
        )
        return [Unlock(**row._asdict()) for row in self.db.execute(query)]

    def add_attempt(self, card_number: str, kiosk_id: str, at: float, kind: str) -> None:
        """Count an unlock attempt (a credential, or a refusal that counts)."""
        self.db.execute(
            _ADD_ATTEMPT, {"card_number": card_number, "kiosk_id": kiosk_id, "at": at, "kind": kind}
        )

    def attempts_for_card(self, card_number: str, since: float) -> int:
        """Attempts on a card since a time."""
        found = self.db.scalar(_ATTEMPTS_FOR_CARD, {"card_number": card_number, "since": since})
        return int(found or 0)

    # -- idempotency -------------------------------------------------------------------------

    def remembered(self, kiosk_id: str, key: str) -> Remembered | None:
        """The first answer to a (kiosk, key), if there was one."""
        found = self.db.execute(_REMEMBERED, {"kiosk_id": kiosk_id, "key": key}).first()
        return _build(Remembered, found)

    def remember(
        self, kiosk_id: str, key: str, fingerprint: str, status: int, body: str, at: float
    ) -> None:
        """Keep an answer with its key (a concurrent twin makes this raise IntegrityError)."""
        self.db.execute(
            _REMEMBER,
            {
                "kiosk_id": kiosk_id,
                "key": key,
                "fingerprint": fingerprint,
                "status": status,
                "body": body,
                "at": at,
            },
        )

    def forget_answers_before(self, at: float) -> None:
        """Drop idempotency records older than a time."""
        self.db.execute(delete(idempotency).where(idempotency.c.at < at))

    # -- audit -----------------------------------------------------------------------------

    def audit(self, at: float, event: str, **about: str | None) -> None:
        """Append to the audit log (about: kiosk_id, card_number, order_ref, unlock_id, detail)."""
        self.db.execute(_AUDIT, {"at": at, "event": event, **about})

    def audit_log(self) -> list[dict[str, Any]]:
        """The whole audit log, oldest first (one dict a row)."""
        return [row._asdict() for row in self.db.execute(select(audit).order_by(audit.c.id))]
