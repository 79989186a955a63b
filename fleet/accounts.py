"""Facility IT's accounts, their sign-in sessions, and the audit of what they did.

Passwords are hashed with argon2id (argon2-cffi's defaults, which follow RFC 9106's
recommendation); a hash made with older parameters is replaced at the next sign-in.
A session is a random token in a cookie; the database keeps only its SHA-256, so a
copy of the database signs nobody in. A session ends after ``idle`` seconds without
a request, or ``lifetime`` seconds after sign-in, whichever comes first. Each session
has its own CSRF token, which every command must carry.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, delete, func, select, update

from fleet import schema
from fleet.store import Store

USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
#: Shortest password accepted.
MIN_PASSWORD = 12
#: Seconds between writes of a session's last use (the idle limit is this much coarse).
_TOUCH_EVERY = 15.0
#: Wrong passwords for one user name within the window before sign-ins for it pause
#: (from browsers the user has not signed in from; each such browser counts its own).
MAX_FAILURES, FAILURE_WINDOW = 10, 15 * 60.0
#: Seconds a browser stays known for a user after last signing in there (its device cookie).
DEVICE_LIFETIME = 180 * 86400.0
_hasher = PasswordHasher()
#: Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class Role(enum.StrEnum):
    """Viewers look; operators may also send commands to kiosks."""

    VIEWER = "viewer"
    OPERATOR = "operator"


class AccountError(ValueError):
    """A user name, password or role that cannot be used (the message says why)."""


@dataclass(frozen=True)
class SessionLimits:
    """When a sign-in ends (``kiosk-fleet serve`` options)."""

    idle: float = 30 * 60.0
    lifetime: float = 12 * 3600.0


@dataclass(frozen=True)
class SignedIn:
    """A valid session."""

    user: str
    role: Role
    csrf: str


def _digest(token: str) -> str:
    # A cookie's bytes that are not UTF-8 reach us as surrogates: still a (wrong) token.
    return hashlib.sha256(token.encode(errors="surrogatepass")).hexdigest()


def check_password(password: str) -> None:
    """Refuse a password too short to keep (the message is shown to the person)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")


class Accounts:
    """Users, sessions and the audit, in the fleet's database."""

    def __init__(self, store: Store, limits: SessionLimits | None = None) -> None:
        self.store = store
        self.limits = limits or SessionLimits()

    # -- users ---------------------------------------------------------------------------

    def add_user(self, name: str, role: Role, password: str, now: float) -> None:
        """A new user; :class:`AccountError` if the name is taken or unusable."""
        if not USER_NAME.match(name):
            raise AccountError("a user name is 1-64 letters, digits, '.', '_', '@' or '-'")
        check_password(password)
        with self.store.transaction() as db:
            if db.execute(select(schema.users.c.name).where(schema.users.c.name == name)).first():
                raise AccountError(f"there is already a user {name!r}")
            db.execute(
                schema.users.insert().values(
                    name=name, role=str(role), password_hash=_hasher.hash(password), created=now
                )
            )
            self._audit(db, now, None, "user-added", detail=f"{name} ({role})")

    def set_password(self, name: str, password: str, now: float) -> None:
        """A new password; every session of the user ends."""
        check_password(password)
        with self.store.transaction() as db:
            changed = db.execute(
                update(schema.users)
                .where(schema.users.c.name == name)
                .values(password_hash=_hasher.hash(password))
            ).rowcount
            if not changed:
                raise AccountError(f"there is no user {name!r}")
            self._forget_user(db, name)
            self._audit(db, now, None, "password-set", detail=name)

    def set_role(self, name: str, role: Role, now: float) -> None:
        """Change a user's role."""
        with self.store.transaction() as db:
            changed = db.execute(
                update(schema.users).where(schema.users.c.name == name).values(role=str(role))
            ).rowcount
            if not changed:
                raise AccountError(f"there is no user {name!r}")
            self._audit(db, now, None, "role-set", detail=f"{name} ({role})")

    def remove_user(self, name: str, now: float) -> None:
        """Remove a user and end their sessions."""
        with self.store.transaction() as db:
            if not db.execute(delete(schema.users).where(schema.users.c.name == name)).rowcount:
                raise AccountError(f"there is no user {name!r}")
            self._forget_user(db, name)
            self._audit(db, now, None, "user-removed", detail=name)

    @staticmethod
    def _forget_user(db, name: str) -> None:  # noqa: ANN001
        """End the user's sessions and forget the browsers they signed in from."""
        db.execute(delete(schema.sessions).where(schema.sessions.c.user_name == name))
        db.execute(delete(schema.trusted_devices).where(schema.trusted_devices.c.user_name == name))

    def users(self) -> list[tuple[str, Role]]:
        """Every user and role, by name."""
        with self.store.reading() as db:
            rows = db.execute(select(schema.users.c.name, schema.users.c.role).order_by("name"))
            return [(row.name, Role(row.role)) for row in rows]

    # -- sign-in -------------------------------------------------------------------------

    def sign_in(
        self, name: str, password: str, now: float, device: str | None = None
    ) -> str | None:
        """A new session's token, or ``None`` (the same for a wrong name or password).

        After :data:`MAX_FAILURES` wrong tries for one name within :data:`FAILURE_WINDOW`
        seconds, that name cannot sign in until the window has moved on (guessing is
        slowed to a crawl; the refusals are in the audit). That pause is for browsers
        the user has not signed in from: one holding the user's device cookie
        (``device``, from :meth:`trust_device`) counts its own wrong tries, so someone
        guessing elsewhere cannot keep facility IT out of the dashboard (OWASP's device
        cookies).
        """
        t = schema.audit
        with self.store.reading() as db:
            row = db.execute(select(schema.users).where(schema.users.c.name == name)).first()
            known = device is not None and self._known_device(db, name, device, now)
            refused, about = (
                ("sign-in-refused-device", f"{name[:64]} {_digest(device)[:12]}")
                if known and device is not None
                else ("sign-in-refused", name[:64])
            )
            failures = db.execute(
                select(func.count())
                .select_from(t)
                .where(t.c.action == refused, t.c.detail == about)
                .where(t.c.at > now - FAILURE_WINDOW)
            ).scalar_one()
        if failures >= MAX_FAILURES:
            row = None  # not even checked
            password = ""
        try:
            _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            row = None
        with self.store.transaction() as db:
            if row is not None and not self._unchanged(db, name, row.password_hash):
                row = None  # a new password, or the user removed, while this one was checked
            if row is None:
                self._audit(db, now, None, refused, detail=about)
                return None
            if _hasher.check_needs_rehash(row.password_hash):
                db.execute(
                    update(schema.users)
                    .where(schema.users.c.name == name)
                    .values(password_hash=_hasher.hash(password))
                )
            token = secrets.token_urlsafe(32)
            db.execute(
                schema.sessions.insert().values(
                    token_hash=_digest(token),
                    user_name=name,
                    csrf=secrets.token_urlsafe(32),
                    created=now,
                    last_used=now,
                )
            )
            self._audit(db, now, name, "signed-in")
        return token

    @staticmethod
    def _unchanged(db, name: str, password_hash: str) -> bool:  # noqa: ANN001
        """Whether the user still has this hash; a user being changed is waited for.

        Why the row lock (PostgreSQL; SQLite's writers take turns anyway): a new password
        or a removal either sees the session written here, or this sees the change.
        """
        u = schema.users
        query = select(u.c.password_hash).where(u.c.name == name).with_for_update()
        return db.execute(query).scalar_one_or_none() == password_hash

    def trust_device(self, token: str, device: str | None, now: float) -> str | None:
        """The device cookie for the browser that signed in to session ``token``.

        A cookie the browser already holds for the user is kept and counts from now, so
        a browser signed in from now and then stays known. ``None`` if the session has
        already ended (a new password or a removal came between): no browser is
        remembered for a sign-in that no longer holds. The session's row is locked, so
        such a change either waits and then forgets the browser too, or is seen here.
        """
        s, d = schema.sessions, schema.trusted_devices
        with self.store.transaction() as db:
            name = db.execute(
                select(s.c.user_name).where(s.c.token_hash == _digest(token)).with_for_update()
            ).scalar_one_or_none()
            if name is None:
                return None
            if device is not None and self._known_device(db, name, device, now):
                db.execute(update(d).where(d.c.token_hash == _digest(device)).values(created=now))
                return device
            fresh = secrets.token_urlsafe(32)
            db.execute(d.insert().values(token_hash=_digest(fresh), user_name=name, created=now))
            return fresh

    @staticmethod
    def _known_device(db, name: str, device: str, now: float) -> bool:  # noqa: ANN001
        d = schema.trusted_devices
        found = db.execute(
            select(d.c.token_hash).where(
                d.c.token_hash == _digest(device),
                d.c.user_name == name,
                d.c.created > now - DEVICE_LIFETIME,
            )
        ).first()
        return found is not None

    def session(self, token: str, now: float) -> SignedIn | None:
        """The session a cookie names, if it has not expired (and it is used now)."""
        s, u = schema.sessions, schema.users
        live = and_(
            s.c.token_hash == _digest(token),
            s.c.last_used > now - self.limits.idle,
            s.c.created > now - self.limits.lifetime,
        )
        with self.store.reading() as db:
            row = db.execute(
                select(s.c.user_name, s.c.csrf, s.c.last_used, u.c.role)
                .join(u, u.c.name == s.c.user_name)
                .where(live)
            ).first()
        if row is None:
            return None
        if now - row.last_used >= _TOUCH_EVERY:  # a write per request would queue behind ingest
            with self.store.transaction() as db:
                db.execute(update(s).where(s.c.token_hash == _digest(token)).values(last_used=now))
        return SignedIn(row.user_name, Role(row.role), row.csrf)

    def sign_out(self, token: str, now: float) -> None:
        """End a session."""
        with self.store.transaction() as db:
            db.execute(
                delete(schema.sessions).where(schema.sessions.c.token_hash == _digest(token))
            )

    def forget_expired(self, now: float) -> int:
        """Delete sessions past either limit (and browsers not signed in from for too long)."""
        s, d = schema.sessions, schema.trusted_devices
        with self.store.transaction() as db:
            db.execute(delete(d).where(d.c.created <= now - DEVICE_LIFETIME))
            return int(
                db.execute(
                    delete(s).where(
                        (s.c.last_used <= now - self.limits.idle)
                        | (s.c.created <= now - self.limits.lifetime)
                    )
                ).rowcount
                or 0
            )

    # -- audit ---------------------------------------------------------------------------

    def audit(self, now: float, user: str | None, action: str, **fields: str | None) -> None:
        """Record something done."""
        with self.store.transaction() as db:
            self._audit(db, now, user, action, **fields)

    @staticmethod
    def _audit(db, now: float, user: str | None, action: str, **fields: str | None) -> None:  # noqa: ANN001
        db.execute(schema.audit.insert().values(at=now, user_name=user, action=action, **fields))
