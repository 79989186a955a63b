"""Typed failures of the card layer.

Every way a card, a reader or pcscd can let us down is one of these classes,
so callers (the kiosk flow, the CLI) can map each to words for a person
without parsing messages. None of them ever carries PIN or PUK bytes.
"""

from __future__ import annotations


class CardError(Exception):
    """Base of every card-layer failure."""


class CardRemoved(CardError):
    """The card left the reader (or the reader vanished) during the operation."""

    def __init__(self, message: str = "the card was removed from the reader") -> None:
        super().__init__(message)


class CardReset(CardError):
    """Another party reset the card; the session's state on it is gone."""

    def __init__(self, message: str = "the card was reset by another application") -> None:
        super().__init__(message)


class CardNotAnswering(CardError):
    """The card did not answer within the deadline; the connection to it was abandoned."""

    def __init__(
        self, message: str = "the card does not answer; take it out of the reader"
    ) -> None:
        super().__init__(message)


class DifferentCard(CardError):
    """The card in the reader is not the one the operation began with."""

    def __init__(self, message: str = "this is not the card that was being unblocked") -> None:
        super().__init__(message)


class NoCard(CardError):
    """There is no card in the reader."""

    def __init__(self, reader: str) -> None:
        super().__init__(f"no card in reader {reader!r}")
        self.reader = reader


class ReaderUnavailable(CardError):
    """The named reader does not exist or cannot be used right now."""

    def __init__(self, reader: str, detail: str = "not available") -> None:
        super().__init__(f"reader {reader!r}: {detail}")
        self.reader = reader


class PcscUnavailable(CardError):
    """The PC/SC service (pcscd) is not running or stopped under us."""

    def __init__(self, detail: str = "the smart-card service (pcscd) is not running") -> None:
        super().__init__(detail)


class PcscFailure(CardError):
    """PC/SC returned an error code we have no better name for."""

    def __init__(self, operation: str, code: int) -> None:
        super().__init__(f"{operation} failed with PC/SC code 0x{code & 0xFFFFFFFF:08X}")
        self.operation = operation
        self.code = code


class UnexpectedResponse(CardError):
    """The card answered something that does not fit the protocol."""


class MalformedCardData(UnexpectedResponse):
    """Data read from the card (a directory file, a certificate) cannot be used as it stands."""


class UnreadableCertificate(MalformedCardData):
    """A certificate on the card cannot be parsed (bad DER, a duplicate or malformed extension)."""


class InvalidPinReference(MalformedCardData):
    """The card's PKCS#15 directory names a PIN reference no command can carry."""


class TlvError(UnexpectedResponse):
    """A BER-TLV structure from the card is malformed."""


class ResetInterrupted(CardError):
    """RESET RETRY COUNTER reached the reader but no clean answer came back.

    The PIN may or may not have been reset: the outcome must be read from the
    card (:mod:`hw.unblocking`). ``cause`` is what went wrong.
    """

    def __init__(self, cause: CardError) -> None:
        super().__init__(f"the unblock was interrupted: {cause}")
        self.cause = cause


class UnsupportedCard(CardError):
    """The card in the reader matches no profile this kiosk knows."""
