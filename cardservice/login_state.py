"""How a login moves through its states (pure).

``pending`` (hint ``outstandingTransaction`` until the phone scans, then ``userSign``)
ends as ``complete``, or ``failed`` with ``userCancel``, ``cancelled``, ``startFailed``
(never scanned before it expired) or ``expiredTransaction`` (scanned, not approved in
time). The values are the API's own (:mod:`protocol.cardservice_values`), so what the
store holds is what the kiosk reads. What the identity provider says arrives as a
:class:`~cardservice.identity_provider.Collection`; the service's own lifetime of a
login is checked here too, whatever the provider says.
"""

from __future__ import annotations

from dataclasses import dataclass

from cardservice.identity_provider import Collection
from cardservice.records import Login
from protocol.cardservice_values import HintCode, LoginStatusValue

#: A login that ended this way ran out of time (rather than being declined or cancelled).
EXPIRED_HINTS = frozenset({HintCode.START_FAILED, HintCode.EXPIRED_TRANSACTION})

#: The audit event for each way a login can fail.
FAILURE_EVENTS = {
    HintCode.USER_CANCEL: "login-declined",
    HintCode.START_FAILED: "login-expired",
    HintCode.EXPIRED_TRANSACTION: "login-expired",
    HintCode.CANCELLED: "login-cancelled",
}


@dataclass(frozen=True)
class LoginState:
    """Status and hint code at a moment."""

    status: LoginStatusValue
    hint: HintCode | None

    @property
    def expired(self) -> bool:
        """Whether the login failed by running out of time."""
        return self.status == LoginStatusValue.FAILED and self.hint in EXPIRED_HINTS


def recorded(login: Login) -> LoginState:
    """The state as the store holds it."""
    return LoginState(LoginStatusValue(login.status), HintCode(login.hint) if login.hint else None)


def state_at(login: Login, now: float) -> LoginState:
    """The login's state at ``now``, including an expiry nobody has written down yet."""
    state = recorded(login)
    if state.status == LoginStatusValue.PENDING and now >= login.expires:
        scanned = state.hint == HintCode.USER_SIGN
        return LoginState(
            LoginStatusValue.FAILED,
            HintCode.EXPIRED_TRANSACTION if scanned else HintCode.START_FAILED,
        )
    return state


def after_collect(collected: Collection) -> LoginState:
    """The login's state from what the identity provider said about its order."""
    if collected.status == LoginStatusValue.PENDING:
        hint = (
            collected.hint
            if collected.hint == HintCode.USER_SIGN
            else HintCode.OUTSTANDING_TRANSACTION
        )
        return LoginState(LoginStatusValue.PENDING, hint)
    if collected.status == LoginStatusValue.FAILED:
        known = collected.hint if collected.hint in FAILURE_EVENTS else HintCode.CANCELLED
        return LoginState(LoginStatusValue.FAILED, known)
    return LoginState(LoginStatusValue.COMPLETE, None)
