"""A PC/SC connection to one card, on pyscard's low-level ``scard`` API.

Why not pyscard's high-level classes: we need every PC/SC return code mapped to
a typed error (:mod:`hw.errors`), ``SCARD_LEAVE_CARD`` on disconnect, and
transactions around multi-command sequences such as an unblock.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from smartcard import scard

from hw.errors import (
    CardError,
    CardRemoved,
    CardReset,
    NoCard,
    PcscFailure,
    PcscUnavailable,
    ReaderUnavailable,
)

log = logging.getLogger(__name__)

#: How long a failed transmission may wait for the reader to report the card gone.
REMOVAL_SETTLE_MS = 2000

#: Return codes meaning "pcscd is gone or restarted": the context must be re-created.
SERVICE_LOST_CODES = frozenset(
    {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_INVALID_HANDLE}
)
_REMOVED_CODES = frozenset(
    {scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_UNPOWERED_CARD}
)
_READER_GONE_CODES = frozenset({scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_UNKNOWN_READER})


def _code(hresult: int) -> int:
    """PC/SC codes come back signed or unsigned depending on the platform."""
    return hresult & 0xFFFFFFFF


def _signed(code: int) -> int:
    return code - (1 << 32) if code & 0x80000000 else code


def _known(hresult: int, codes: frozenset[int]) -> bool:
    return _code(hresult) in {_code(c) for c in codes}


def is_service_lost(hresult: int) -> bool:
    """Whether a return code means pcscd stopped or restarted."""
    return _known(hresult, SERVICE_LOST_CODES)


def error_for(hresult: int, operation: str, reader: str = "") -> CardError:
    """Map a PC/SC return code to the typed error a caller can act on."""
    code = _code(hresult)
    if is_service_lost(hresult):
        return PcscUnavailable()
    if _known(hresult, _REMOVED_CODES):
        return CardRemoved()
    if code == _code(scard.SCARD_W_RESET_CARD):
        return CardReset()
    if _known(hresult, _READER_GONE_CODES):
        return ReaderUnavailable(reader or "?", "the reader is gone")
    if code == _code(scard.SCARD_W_UNRESPONSIVE_CARD):
        return CardRemoved("the card does not respond; it may be inserted the wrong way")
    return PcscFailure(operation, _signed(code))


@contextlib.contextmanager
def pcsc_context() -> Iterator[int]:
    """Establish a PC/SC context for the duration of a block."""
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise error_for(hresult, "SCardEstablishContext")
    try:
        yield context
    finally:
        scard.SCardReleaseContext(context)


def list_readers(context: int) -> list[str]:
    """Names of the readers pcscd knows; an empty list when there are none."""
    hresult, readers = scard.SCardListReaders(context, [])
    if _code(hresult) == _code(scard.SCARD_E_NO_READERS_AVAILABLE):
        return []
    if hresult != scard.SCARD_S_SUCCESS:
        raise error_for(hresult, "SCardListReaders")
    return list(readers)


@dataclass(frozen=True)
class ReaderState:
    """What PC/SC says about one reader right now."""

    reader: str
    card_present: bool
    atr: bytes


def reader_states(context: int, readers: list[str]) -> list[ReaderState]:
    """Ask pcscd, without waiting, which of ``readers`` hold a card."""
    if not readers:
        return []
    hresult, states = scard.SCardGetStatusChange(
        context, 0, [(name, scard.SCARD_STATE_UNAWARE) for name in readers]
    )
    if hresult != scard.SCARD_S_SUCCESS and _code(hresult) != _code(scard.SCARD_E_TIMEOUT):
        raise error_for(hresult, "SCardGetStatusChange")
    return [
        ReaderState(
            name,
            bool(event & scard.SCARD_STATE_PRESENT) and not event & scard.SCARD_STATE_MUTE,
            bytes(atr),
        )
        for name, event, atr in states
    ]


class PcscConnection:
    """A shared connection to the card in one reader.

    Implements the transport the APDU processor needs (``transmit``). A card
    that is removed or reset surfaces as :class:`CardRemoved` /
    :class:`CardReset` from :meth:`transmit`, never as a crash.
    """

    def __init__(self, reader: str, *, removal_settle_ms: int = REMOVAL_SETTLE_MS) -> None:
        self.reader = reader
        self._removal_settle_ms = removal_settle_ms
        self._lock = threading.Lock()
        hresult, self._context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise error_for(hresult, "SCardEstablishContext", reader)
        hresult, self._card, self._protocol = scard.SCardConnect(
            self._context,
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if hresult != scard.SCARD_S_SUCCESS:
            scard.SCardReleaseContext(self._context)
            error = error_for(hresult, "SCardConnect", reader)
            if isinstance(error, CardRemoved):
                raise NoCard(reader) from None
            raise error
        self._open = True

    @property
    def atr(self) -> bytes:
        """The card's answer to reset."""
        hresult, _reader, _state, _protocol, atr = scard.SCardStatus(self._card)
        if hresult != scard.SCARD_S_SUCCESS:
            raise error_for(hresult, "SCardStatus", self.reader)
        return bytes(atr)

    def transmit(self, command: bytes) -> bytes:
        """Send raw APDU bytes; return the raw response including SW1 SW2."""
        with self._lock:
            if not self._open:
                raise CardRemoved("the connection to the card is closed")
            hresult, response = scard.SCardTransmit(self._card, self._protocol, list(command))
        if hresult != scard.SCARD_S_SUCCESS:
            raise self._transmit_error(hresult)
        if len(response) < 2 and self._card_left(self._removal_settle_ms):
            # vpcd (and some readers) hand back an empty answer when the card goes.
            raise CardRemoved()
        return bytes(response)

    def _transmit_error(self, hresult: int) -> CardError:
        """Name a failed transmission; a card pulled mid-command is "removed".

        Some readers (and vpcd) report a card pulled out during a command as a
        generic transmission failure and notice the empty slot a moment later,
        so on such a failure we wait briefly for the slot to settle.
        """
        error = error_for(hresult, "SCardTransmit", self.reader)
        if isinstance(error, PcscFailure) and self._card_left(self._removal_settle_ms):
            return CardRemoved()
        return error

    def _card_left(self, timeout_ms: int) -> bool:
        deadline = time.monotonic() + timeout_ms / 1000
        current = scard.SCARD_STATE_UNAWARE
        while True:
            remaining = int((deadline - time.monotonic()) * 1000)
            if remaining <= 0:
                return False
            hresult, states = scard.SCardGetStatusChange(
                self._context, remaining, [(self.reader, current)]
            )
            if hresult != scard.SCARD_S_SUCCESS:
                return _code(hresult) != _code(scard.SCARD_E_TIMEOUT)
            _name, event, _atr = states[0]
            if not event & scard.SCARD_STATE_PRESENT:
                return True
            current = event & ~scard.SCARD_STATE_CHANGED

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the card exclusively so no other program interleaves commands."""
        hresult = scard.SCardBeginTransaction(self._card)
        if hresult != scard.SCARD_S_SUCCESS:
            raise error_for(hresult, "SCardBeginTransaction", self.reader)
        try:
            yield
        finally:
            scard.SCardEndTransaction(self._card, scard.SCARD_LEAVE_CARD)

    def close(self) -> None:
        """Disconnect leaving the card as it is (``SCARD_LEAVE_CARD``)."""
        with self._lock:
            if not self._open:
                return
            self._open = False
            scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
            scard.SCardReleaseContext(self._context)

    def __enter__(self) -> PcscConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
