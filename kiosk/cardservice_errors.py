"""Typed failures of the card service conversation, one class per thing the kiosk does.

Problem codes from the service map to subclasses of :class:`CardServiceProblem`;
transport failures to :class:`CardServiceUnreachable` / :class:`CardServiceTimeout`;
anything that is not the API (an answer, or a request the kiosk was about to send)
to :class:`CardServiceProtocolError`. The codes are :class:`protocol.problems.ProblemCode`,
the one list the service answers with.
"""

from __future__ import annotations

from protocol.problems import ProblemCode


class CardServiceError(Exception):
    """Base of every card-service failure."""


class CardServiceUnreachable(CardServiceError):
    """No connection (down, DNS, TLS refused): the kiosk goes out of service."""


class CardServiceTimeout(CardServiceError):
    """The service did not answer in time."""


class CardServiceFailure(CardServiceError):
    """The service answered with a server error and no problem document."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the card service failed (HTTP {status})")
        self.status = status


class CardServiceProtocolError(CardServiceError):
    """Not what the API promises: a malformed answer, or a request the API would refuse.

    The message names the members that are wrong, never their values.
    """


class CardServiceProblem(CardServiceError):
    """The service refused, with an RFC 9457 problem code."""

    def __init__(self, code: ProblemCode, status: int, title: str, detail: str | None) -> None:
        super().__init__(f"{code}: {detail or title}")
        self.code = code
        self.status = status
        self.title = title
        self.detail = detail


class CardNotRegistered(CardServiceProblem):
    """The card is not known to the card service."""


class NotCardOwner(CardServiceProblem):
    """The person who logged in does not own the card."""


class NeedsIdAdministrator(CardServiceProblem):
    """The card cannot be unlocked at a kiosk."""


class TooManyAttempts(CardServiceProblem):
    """Rate limit for the card or the kiosk."""


class LoginExpired(CardServiceProblem):
    """The login took too long."""


class ServiceInMaintenance(CardServiceProblem):
    """The service is in maintenance."""


class KioskNotAccepted(CardServiceProblem):
    """The kiosk's certificate is missing, or the kiosk is not registered or was revoked."""


PROBLEM_CLASSES: dict[ProblemCode, type[CardServiceProblem]] = {
    ProblemCode.CARD_NOT_REGISTERED: CardNotRegistered,
    ProblemCode.NOT_CARD_OWNER: NotCardOwner,
    ProblemCode.NEEDS_ID_ADMINISTRATOR: NeedsIdAdministrator,
    ProblemCode.TOO_MANY_ATTEMPTS: TooManyAttempts,
    ProblemCode.LOGIN_EXPIRED: LoginExpired,
    ProblemCode.MAINTENANCE: ServiceInMaintenance,
    ProblemCode.CLIENT_CERTIFICATE_REQUIRED: KioskNotAccepted,
    ProblemCode.UNKNOWN_KIOSK: KioskNotAccepted,
    ProblemCode.KIOSK_REVOKED: KioskNotAccepted,
}


def problem_error(
    code: ProblemCode, status: int, title: str, detail: str | None
) -> CardServiceProblem:
    """The typed exception for a problem code (a plain CardServiceProblem if unmapped)."""
    return PROBLEM_CLASSES.get(code, CardServiceProblem)(code, status, title, detail)
