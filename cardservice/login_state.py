"""How a login order moves through its states (pure).

``pending`` (hint ``outstandingTransaction`` until scanned, then ``userSign``)
ends as ``complete``, or ``failed`` with ``userCancel``, ``cancelled``,
``startFailed`` (never scanned before it expired) or ``expiredTransaction``
(scanned, not approved in time).
"""

from __future__ import annotations

from dataclasses import dataclass

from cardservice.store import Login

PENDING = "pending"
FAILED = "failed"
COMPLETE = "complete"

OUTSTANDING = "outstandingTransaction"
USER_SIGN = "userSign"
USER_CANCEL = "userCancel"
EXPIRED_TRANSACTION = "expiredTransaction"
START_FAILED = "startFailed"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class LoginState:
    """Status and hint code at a moment."""

    status: str
    hint: str | None


def state_at(login: Login, now: float) -> LoginState:
    """The login's state at ``now``, including expiry that nobody has written down yet."""
    if login.status != PENDING:
        return LoginState(login.status, login.hint)
    if now >= login.expires:
        return LoginState(FAILED, EXPIRED_TRANSACTION if login.scanned_by else START_FAILED)
    return LoginState(PENDING, USER_SIGN if login.scanned_by else OUTSTANDING)


def frame_is_fresh(frame_seconds: int, elapsed: float, max_age: float, tolerance: float) -> bool:
    """Whether a QR frame for second ``frame_seconds`` may be scanned ``elapsed`` s in."""
    return elapsed - max_age <= frame_seconds <= elapsed + tolerance
