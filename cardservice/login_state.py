"""How a login order moves through its states (pure).

``pending`` (hint ``outstandingTransaction`` until scanned, then ``userSign``)
ends as ``complete``, or ``failed`` with ``userCancel``, ``cancelled``,
``startFailed`` (never scanned before it expired) or ``expiredTransaction``
(scanned, not approved in time). The values are the API's own
(:mod:`protocol.cardservice_values`), so what the store holds is what the kiosk reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from cardservice.store import Login
from protocol.cardservice_values import HintCode, LoginStatusValue

#: A login that ended this way ran out of time (rather than being declined or cancelled).
EXPIRED_HINTS = frozenset({HintCode.START_FAILED, HintCode.EXPIRED_TRANSACTION})


@dataclass(frozen=True)
class LoginState:
    """Status and hint code at a moment."""

    status: LoginStatusValue
    hint: HintCode | None


def state_at(login: Login, now: float) -> LoginState:
    """The login's state at ``now``, including expiry that nobody has written down yet."""
    if login.status != LoginStatusValue.PENDING:
        hint = HintCode(login.hint) if login.hint else None
        return LoginState(LoginStatusValue(login.status), hint)
    if now >= login.expires:
        return LoginState(
            LoginStatusValue.FAILED,
            HintCode.EXPIRED_TRANSACTION if login.scanned_by else HintCode.START_FAILED,
        )
    return LoginState(
        LoginStatusValue.PENDING,
        HintCode.USER_SIGN if login.scanned_by else HintCode.OUTSTANDING_TRANSACTION,
    )


def frame_is_fresh(frame_seconds: int, elapsed: float, max_age: float, tolerance: float) -> bool:
    """Whether a QR frame for second ``frame_seconds`` may be scanned ``elapsed`` s in."""
    return elapsed - max_age <= frame_seconds <= elapsed + tolerance
