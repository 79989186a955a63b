"""The reference card service's state in SQLite: survives restarts, one file.

Plain SQL behind small methods; one connection guarded by a lock (SQLite
serialises writers anyway), WAL journal so readers do not wait.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kiosks (
    kiosk_id TEXT PRIMARY KEY, location TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cards (
    card_number TEXT PRIMARY KEY, holder_name TEXT NOT NULL, hsa_id TEXT NOT NULL,
    personal_identity_number TEXT NOT NULL, email TEXT NOT NULL, product_code TEXT NOT NULL,
    mechanism TEXT NOT NULL CHECK (mechanism IN ('puk', 'admin-key')),
    secret_sealed BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS identities (
    personal_identity_number TEXT PRIMARY KEY, name TEXT NOT NULL, hsa_id TEXT);
CREATE TABLE IF NOT EXISTS logins (
    order_ref TEXT PRIMARY KEY, kiosk_id TEXT NOT NULL, card_number TEXT NOT NULL,
    person TEXT NOT NULL, qr_token TEXT NOT NULL UNIQUE, qr_secret TEXT NOT NULL,
    created REAL NOT NULL, expires REAL NOT NULL, status TEXT NOT NULL, hint TEXT,
    scanned_by TEXT, completed_by TEXT, credential_issued INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS logins_person ON logins (person, status);
CREATE TABLE IF NOT EXISTS unlocks (
    unlock_id TEXT PRIMARY KEY, order_ref TEXT NOT NULL UNIQUE, kiosk_id TEXT NOT NULL,
    card_number TEXT NOT NULL, pin_role TEXT NOT NULL, mechanism TEXT NOT NULL,
    created REAL NOT NULL, expires REAL NOT NULL, outcome TEXT, outcome_at REAL);
CREATE TABLE IF NOT EXISTS attempts (card_number TEXT NOT NULL, kiosk_id TEXT NOT NULL,
    at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (
    kiosk_id TEXT NOT NULL, key TEXT NOT NULL, request TEXT NOT NULL, status INTEGER NOT NULL,
    body TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (kiosk_id, key));
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, kiosk_id TEXT, card_number TEXT,
    order_ref TEXT, event TEXT NOT NULL, detail TEXT);
CREATE TABLE IF NOT EXISTS mail_outbox (
    id INTEGER PRIMARY KEY, created REAL NOT NULL, recipient TEXT NOT NULL,
    subject TEXT NOT NULL, body TEXT NOT NULL, sent_at REAL, attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT);
"""


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
    """A login order (one Mobilt SITHS authentication for one card)."""

    order_ref: str
    kiosk_id: str
    card_number: str
    person: str
    qr_token: str
    qr_secret: str
    created: float
    expires: float
    status: str
    hint: str | None
    scanned_by: str | None
    completed_by: str | None
    credential_issued: bool


@dataclass(frozen=True)
class Unlock:
    """A credential handed out, and the outcome the kiosk reported."""

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


@dataclass(frozen=True)
class Mail:
    """An e-mail waiting in (or sent from) the outbox."""

    id: int
    recipient: str
    subject: str
    body: str
    sent_at: float | None
    attempts: int


class Store:
    """All reads and writes of the service's state."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (re-entrant on this thread)."""
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, *args: object) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _all(self, sql: str, *args: object) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- settings ------------------------------------------------------------------

    def get_setting(self, key: str, default: str = "") -> str:
        """A value from the meta table."""
        row = self._one("SELECT value FROM meta WHERE key = ?", key)
        return default if row is None else row["value"]

    def set_setting(self, key: str, value: str) -> None:
        """Store a value in the meta table."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- registry ------------------------------------------------------------------

    def add_kiosk(self, kiosk_id: str, location: str) -> None:
        """Register (or move) a kiosk."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO kiosks (kiosk_id, location) VALUES (?, ?)",
                (kiosk_id, location),
            )

    def kiosk_location(self, kiosk_id: str) -> str | None:
        """Where a registered kiosk stands; ``None`` if it is not registered."""
        row = self._one("SELECT location FROM kiosks WHERE kiosk_id = ?", kiosk_id)
        return None if row is None else row["location"]

    def add_card(self, card: Card) -> None:
        """Register (or re-register) a card; its holder becomes a phone identity too."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO cards VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    card.card_number,
                    card.holder_name,
                    card.hsa_id,
                    card.personal_identity_number,
                    card.email,
                    card.product_code,
                    card.mechanism,
                    card.secret_sealed,
                ),
            )
            db.execute(
                "INSERT OR REPLACE INTO identities VALUES (?, ?, ?)",
                (card.personal_identity_number, card.holder_name, card.hsa_id),
            )

    def card(self, card_number: str) -> Card | None:
        """A registered card."""
        row = self._one("SELECT * FROM cards WHERE card_number = ?", card_number)
        return None if row is None else Card(**dict(row))

    def add_identity(self, personal_identity_number: str, name: str, hsa_id: str | None) -> None:
        """A person the simulated phone can log in as."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO identities VALUES (?, ?, ?)",
                (personal_identity_number, name, hsa_id),
            )

    def identity(self, personal_identity_number: str) -> sqlite3.Row | None:
        """One phone identity."""
        return self._one(
            "SELECT * FROM identities WHERE personal_identity_number = ?", personal_identity_number
        )

    def identities(self) -> list[sqlite3.Row]:
        """Every phone identity."""
        return self._all("SELECT * FROM identities ORDER BY name")

    # -- logins --------------------------------------------------------------------

    def add_login(self, login: Login) -> None:
        """Store a new login order."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO logins VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    login.order_ref,
                    login.kiosk_id,
                    login.card_number,
                    login.person,
                    login.qr_token,
                    login.qr_secret,
                    login.created,
                    login.expires,
                    login.status,
                    login.hint,
                    login.scanned_by,
                    login.completed_by,
                    int(login.credential_issued),
                ),
            )

    @staticmethod
    def _login(row: sqlite3.Row | None) -> Login | None:
        if row is None:
            return None
        data = dict(row)
        data["credential_issued"] = bool(data["credential_issued"])
        return Login(**data)

    def login(self, order_ref: str) -> Login | None:
        """A login by its order reference."""
        return self._login(self._one("SELECT * FROM logins WHERE order_ref = ?", order_ref))

    def login_by_token(self, qr_token: str) -> Login | None:
        """A login by its QR start token."""
        return self._login(self._one("SELECT * FROM logins WHERE qr_token = ?", qr_token))

    def pending_logins_of(self, person: str) -> list[Login]:
        """A person's logins that are still pending."""
        rows = self._all("SELECT * FROM logins WHERE person = ? AND status = 'pending'", person)
        return [login for row in rows if (login := self._login(row)) is not None]

    def update_login(self, order_ref: str, **fields: object) -> None:
        """Change some fields of a login."""
        if not fields:
            return
        columns = ", ".join(f"{name} = ?" for name in fields)
        with self.transaction() as db:
            db.execute(
                f"UPDATE logins SET {columns} WHERE order_ref = ?",
                (*fields.values(), order_ref),
            )

    # -- unlocks and attempts ------------------------------------------------------------

    def add_unlock(self, unlock: Unlock) -> None:
        """Store an issued credential."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO unlocks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    unlock.unlock_id,
                    unlock.order_ref,
                    unlock.kiosk_id,
                    unlock.card_number,
                    unlock.pin_role,
                    unlock.mechanism,
                    unlock.created,
                    unlock.expires,
                    unlock.outcome,
                    unlock.outcome_at,
                ),
            )

    def unlock(self, unlock_id: str) -> Unlock | None:
        """An issued credential."""
        row = self._one("SELECT * FROM unlocks WHERE unlock_id = ?", unlock_id)
        return None if row is None else Unlock(**dict(row))

    def set_outcome(self, unlock_id: str, outcome: str, at: float) -> None:
        """Record what the kiosk reported."""
        with self.transaction() as db:
            db.execute(
                "UPDATE unlocks SET outcome = ?, outcome_at = ? WHERE unlock_id = ?",
                (outcome, at, unlock_id),
            )

    def add_attempt(self, card_number: str, kiosk_id: str, at: float) -> None:
        """Count an unlock attempt (for the rate limits)."""
        with self.transaction() as db:
            db.execute("INSERT INTO attempts VALUES (?, ?, ?)", (card_number, kiosk_id, at))

    def attempts_for_card(self, card_number: str, since: float) -> int:
        """Unlock attempts on a card since a time."""
        row = self._one(
            "SELECT COUNT(*) AS n FROM attempts WHERE card_number = ? AND at >= ?",
            card_number,
            since,
        )
        return int(row["n"]) if row else 0

    def logins_from_kiosk(self, kiosk_id: str, since: float) -> int:
        """Logins a kiosk started since a time."""
        row = self._one(
            "SELECT COUNT(*) AS n FROM logins WHERE kiosk_id = ? AND created >= ?", kiosk_id, since
        )
        return int(row["n"]) if row else 0

    # -- idempotency ---------------------------------------------------------------

    def remembered_response(self, kiosk_id: str, key: str) -> sqlite3.Row | None:
        """A stored answer for a repeated Idempotency-Key."""
        return self._one("SELECT * FROM idempotency WHERE kiosk_id = ? AND key = ?", kiosk_id, key)

    def remember_response(
        self, kiosk_id: str, key: str, request: str, status: int, body: str, at: float
    ) -> None:
        """Store the first answer for an Idempotency-Key."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO idempotency VALUES (?, ?, ?, ?, ?, ?)",
                (kiosk_id, key, request, status, body, at),
            )
            db.execute("DELETE FROM idempotency WHERE at < ?", (at - 86400,))

    # -- audit and mail ------------------------------------------------------------

    def audit(
        self,
        at: float,
        event: str,
        *,
        kiosk_id: str | None = None,
        card_number: str | None = None,
        order_ref: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Append to the audit log."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO audit (at, kiosk_id, card_number, order_ref, event, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (at, kiosk_id, card_number, order_ref, event, detail),
            )

    def audit_log(self) -> list[sqlite3.Row]:
        """The whole audit log, oldest first."""
        return self._all("SELECT * FROM audit ORDER BY id")

    def queue_mail(self, at: float, recipient: str, subject: str, body: str) -> int:
        """Put an e-mail in the outbox; returns its id."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO mail_outbox (created, recipient, subject, body) VALUES (?, ?, ?, ?)",
                (at, recipient, subject, body),
            )
            return int(cursor.lastrowid or 0)

    def unsent_mail(self) -> list[Mail]:
        """E-mails not yet handed to the SMTP server."""
        rows = self._all(
            "SELECT id, recipient, subject, body, sent_at, attempts FROM mail_outbox"
            " WHERE sent_at IS NULL ORDER BY id"
        )
        return [Mail(**dict(row)) for row in rows]

    def mark_mail(self, mail_id: int, *, sent_at: float | None, error: str | None) -> None:
        """Record a send attempt."""
        with self.transaction() as db:
            db.execute(
                "UPDATE mail_outbox SET sent_at = ?, attempts = attempts + 1, last_error = ?"
                " WHERE id = ?",
                (sent_at, error, mail_id),
            )
