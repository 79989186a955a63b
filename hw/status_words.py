"""ISO 7816-4 status words as typed exceptions.

:func:`error_for` turns any non-success status word into an instance of the
most specific class below, so a profile can write ``except NotFound`` instead
of comparing integers. Unknown status words become a plain :class:`ApduError`.
"""

from __future__ import annotations

from hw.errors import CardError

SW_OK = 0x9000


class ApduError(CardError):
    """The card answered a command with a status word other than 9000."""

    def __init__(self, sw: int, message: str | None = None) -> None:
        super().__init__(message or f"card answered status word {sw:04X}")
        self.sw = sw


class VerificationFailed(ApduError):
    """``63CX``: a reference-data check failed; ``tries_left`` = X."""

    @property
    def tries_left(self) -> int:
        """Tries the card still allows for this reference."""
        return self.sw & 0x0F


class WrongLength(ApduError):
    """``6700``: Lc or Le is wrong for this command."""


class SecurityStatusNotSatisfied(ApduError):
    """``6982``: the command needs a PIN or key authentication first."""


class AuthenticationBlocked(ApduError):
    """``6983``: the reference data (PIN, PUK, key) is blocked."""


class ConditionsNotSatisfied(ApduError):
    """``6985``: conditions of use not satisfied."""


class IncorrectData(ApduError):
    """``6A80``: incorrect parameters in the command data (e.g. PIN format)."""


class FunctionNotSupported(ApduError):
    """``6A81``: function not supported."""


class NotFound(ApduError):
    """``6A82``: file, object or application not found."""


class IncorrectParameters(ApduError):
    """``6A86`` / ``6B00``: P1-P2 wrong."""


class ReferenceNotFound(ApduError):
    """``6A88``: referenced data (key, PIN reference) not found."""


class InstructionNotSupported(ApduError):
    """``6D00``: INS not supported."""


class ClassNotSupported(ApduError):
    """``6E00``: CLA not supported."""


class WrongLe(ApduError):
    """``6Cxx``: wrong Le; the card wants Le = xx. Only seen if resending failed."""


_EXACT: dict[int, type[ApduError]] = {
    0x6700: WrongLength,
    0x6982: SecurityStatusNotSatisfied,
    0x6983: AuthenticationBlocked,
    0x6985: ConditionsNotSatisfied,
    0x6A80: IncorrectData,
    0x6A81: FunctionNotSupported,
    0x6A82: NotFound,
    0x6A86: IncorrectParameters,
    0x6B00: IncorrectParameters,
    0x6A88: ReferenceNotFound,
    0x6D00: InstructionNotSupported,
    0x6E00: ClassNotSupported,
}


def error_for(sw: int) -> ApduError:
    """Return the typed exception for a non-9000 status word."""
    if sw & 0xFFF0 == 0x63C0:
        return VerificationFailed(sw, f"verification failed, {sw & 0x0F} tries left")
    if sw & 0xFF00 == 0x6C00:
        return WrongLe(sw)
    cls = _EXACT.get(sw, ApduError)
    return cls(sw)
