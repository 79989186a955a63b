"""A PC/SC connection to one card, on pyscard's low-level ``scard`` API.

Why not pyscard's high-level classes: we need every PC/SC return code mapped to
a typed error (:mod:`hw.errors`), ``SCARD_LEAVE_CARD`` on disconnect, a deadline
on every call that waits for the card (:mod:`hw.pcsc_calls`), and transactions
around whole operations (a read, an unblock) so that no other program's commands
(a SELECT elsewhere, a reset) land in the middle of ours.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from smartcard import scard

from hw.apdu import uses_extended_length
from hw.errors import (
    CardError,
    CardNotAnswering,
    CardRemoved,
    CardReset,
    NoCard,
    PcscFailure,
    PcscUnavailable,
    ReaderUnavailable,
)
from hw.pcsc_calls import CallRunner, CallTimedOut

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a failed transmission may wait for the reader to report the card gone.
REMOVAL_SETTLE_MS = 2000
#: Seconds one command (or a wait for another program's transaction) may take by default.
APDU_TIMEOUT = 5.0
_PROTOCOLS = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1

#: Return codes meaning "pcscd is gone or restarted": the context must be re-created.
SERVICE_LOST_CODES = frozenset(
    {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_INVALID_HANDLE}
)
_REMOVED_CODES = frozenset(
    {scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_UNPOWERED_CARD}
)
_READER_GONE_CODES = frozenset({scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_UNKNOWN_READER})

#: Readers that failed to send an extended-length APDU (short-APDU-level ones): not asked again.
_SHORT_APDU_READERS: set[str] = set()


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
    """A shared connection to the card in one reader, every call under a deadline.

    Implements the transport the APDU processor needs (``transmit``). A card
    that is removed or reset surfaces as :class:`CardRemoved` / :class:`CardReset`
    from :meth:`transmit`, never as a crash; one that does not answer within
    ``apdu_timeout`` seconds as :class:`CardNotAnswering`, after which the
    connection is given up (its disconnect resets the card once the reader lets go).
    """

    def __init__(
        self,
        reader: str,
        *,
        apdu_timeout: float = APDU_TIMEOUT,
        removal_settle_ms: int = REMOVAL_SETTLE_MS,
    ) -> None:
        if apdu_timeout <= 0:
            raise ValueError("the APDU timeout must be positive")
        self.reader = reader
        self.apdu_timeout = apdu_timeout
        self._removal_settle_ms = removal_settle_ms
        self._runner = CallRunner(f"pcsc {reader}")
        self._open = False
        self._context: int | None = None
        try:
            self._connect()
        except BaseException:
            self._runner.stop()
            raise
        self._open = True

    def _connect(self) -> None:
        hresult, self._context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            self._context = None
            raise error_for(hresult, "SCardEstablishContext", self.reader)
        hresult, self._card, self._protocol = self._call(
            scard.SCardConnect, self._context, self.reader, scard.SCARD_SHARE_SHARED, _PROTOCOLS
        )
        if hresult != scard.SCARD_S_SUCCESS:
            scard.SCardReleaseContext(self._context)
            self._context = None
            error = error_for(hresult, "SCardConnect", self.reader)
            if isinstance(error, CardRemoved):
                raise NoCard(self.reader) from None
            raise error

    # -- every call that may wait for the card --------------------------------------------

    def _call(self, function: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """Run a PC/SC call on the connection's thread; give the card up past the deadline."""
        try:
            return self._runner.call(timeout or self.apdu_timeout, function, *args)
        except CallTimedOut:
            self._abandon()
            raise CardNotAnswering() from None

    def _abandon(self) -> None:
        """Stop waiting for the card: cancel, and disconnect with a reset when the call returns."""
        self._open = False
        context = self._context
        if context is not None:
            scard.SCardCancel(context)  # wakes a status wait; a stuck transmit ignores it
            if hasattr(self, "_card"):
                self._runner.then(self._disconnect, scard.SCARD_RESET_CARD)
            else:
                self._runner.then(scard.SCardReleaseContext, context)
        self._runner.stop()
        log.warning("the card in %s does not answer; connection given up", self.reader)

    def _disconnect(self, disposition: int) -> None:
        scard.SCardDisconnect(self._card, disposition)
        if self._context is not None:
            scard.SCardReleaseContext(self._context)

    # -- the card ----------------------------------------------------------------------

    @property
    def atr(self) -> bytes:
        """The card's answer to reset."""
        hresult, _reader, _state, _protocol, atr = self._call(scard.SCardStatus, self._card)
        if hresult != scard.SCARD_S_SUCCESS:
            raise error_for(hresult, "SCardStatus", self.reader)
        return bytes(atr)

    @property
    def carries_extended_apdus(self) -> bool:
        """Whether an extended-length APDU can go (not over T=0, nor a reader that failed one)."""
        return self._protocol != scard.SCARD_PROTOCOL_T0 and self.reader not in _SHORT_APDU_READERS

    def card_events(self) -> int:
        """How many times a card went into or out of this reader (pcscd's count); 0 if not kept.

        Read before the card answers anything, then a card that stays answering shows the
        same insertion as another operation that saw the same count: a connection whose
        card leaves fails its next command, and a reset does not change the count. pcsc-lite
        and Windows keep it (in the event state's high word); a pcscd restart starts it anew.
        """
        hresult, states = self._call(
            scard.SCardGetStatusChange, self._context, 0, [(self.reader, scard.SCARD_STATE_UNAWARE)]
        )
        if hresult != scard.SCARD_S_SUCCESS and _code(hresult) != _code(scard.SCARD_E_TIMEOUT):
            raise error_for(hresult, "SCardGetStatusChange", self.reader)
        _name, event, _atr = states[0]
        return (event >> 16) & 0xFFFF

    def transmit(self, command: bytes) -> bytes:
        """Send raw APDU bytes; return the raw response including SW1 SW2."""
        if not self._open:
            raise CardRemoved("the connection to the card is closed")
        hresult, response = self._call(
            scard.SCardTransmit, self._card, self._protocol, list(command)
        )
        if hresult != scard.SCARD_S_SUCCESS:
            error = self._transmit_error(hresult)
            if isinstance(error, PcscFailure) and uses_extended_length(command):
                _SHORT_APDU_READERS.add(self.reader)  # the card is still there: the reader is not
            raise error
        if len(response) < 2 and self._card_left(self._removal_settle_ms):
            # vpcd (and some readers) hand back an empty answer when the card goes.
            raise CardRemoved()
        return bytes(response)

    def _transmit_error(self, hresult: int) -> CardError:
        """Name a failed transmission; a card pulled mid-command is "removed".

        Some readers (and vpcd) report a card pulled out during a command as a
        generic transmission failure and notice the empty slot a moment later,
        so on such a failure we wait briefly for the slot to settle. If pcscd
        itself went away meanwhile, that is what is reported.
        """
        error = error_for(hresult, "SCardTransmit", self.reader)
        if isinstance(error, PcscFailure) and self._card_left(self._removal_settle_ms):
            return CardRemoved()
        return error

    def _card_left(self, timeout_ms: int) -> bool:
        """Whether the slot turns empty within ``timeout_ms``; raises if pcscd itself went."""
        deadline = time.monotonic() + timeout_ms / 1000
        current = scard.SCARD_STATE_UNAWARE
        while True:
            remaining = int((deadline - time.monotonic()) * 1000)
            if remaining <= 0:
                return False
            hresult, states = self._call(
                scard.SCardGetStatusChange,
                self._context,
                remaining,
                [(self.reader, current)],
                timeout=remaining / 1000 + self.apdu_timeout,
            )
            if hresult != scard.SCARD_S_SUCCESS:
                if _code(hresult) == _code(scard.SCARD_E_TIMEOUT):
                    return False
                if is_service_lost(hresult):
                    raise PcscUnavailable("the smart-card service (pcscd) stopped mid-command")
                return True
            _name, event, _atr = states[0]
            if not event & scard.SCARD_STATE_PRESENT:
                return True
            current = event & ~scard.SCARD_STATE_CHANGED

    # -- transactions --------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the card exclusively so no other program interleaves commands.

        Waiting for another program's transaction counts against the deadline.
        """
        if not self._open:
            raise CardRemoved("the connection to the card is closed")
        hresult = self._call(scard.SCardBeginTransaction, self._card)
        if hresult != scard.SCARD_S_SUCCESS:
            raise error_for(hresult, "SCardBeginTransaction", self.reader)
        try:
            yield
        finally:
            if self._open:
                with contextlib.suppress(CardError):
                    self._call(scard.SCardEndTransaction, self._card, scard.SCARD_LEAVE_CARD)

    def reconnect(self) -> None:
        """Take up the card again after another program reset it (its state on the card is gone)."""
        if not self._open:
            raise CardRemoved("the connection to the card is closed")
        hresult, protocol = self._call(
            scard.SCardReconnect,
            self._card,
            scard.SCARD_SHARE_SHARED,
            _PROTOCOLS,
            scard.SCARD_LEAVE_CARD,
        )
        if hresult != scard.SCARD_S_SUCCESS:
            raise error_for(hresult, "SCardReconnect", self.reader)
        self._protocol = protocol

    def in_transaction(self, work: Callable[[], T]) -> T:
        """Run ``work`` in one transaction; after a reset by another program, once more.

        ``work`` must begin with the application SELECT, and must not raise
        :class:`CardReset` once it has changed anything on the card (an unblock
        reports such a reset in its outcome instead), so running it again from
        the start is safe.
        """
        try:
            with self.transaction():
                return work()
        except CardReset:
            log.info("the card in %s was reset by another program; starting again", self.reader)
            self.reconnect()
        with self.transaction():
            return work()

    def close(self) -> None:
        """Disconnect leaving the card as it is (``SCARD_LEAVE_CARD``)."""
        if not self._open:
            return
        self._open = False
        with contextlib.suppress(CardNotAnswering):
            self._call(self._disconnect, scard.SCARD_LEAVE_CARD)
        self._runner.stop()

    def __enter__(self) -> PcscConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def wait_for_card_back(reader: str, timeout: float) -> bool:
    """Wait up to ``timeout`` s for a card to be taken out of ``reader`` (if in) and put back."""
    deadline = time.monotonic() + timeout
    with pcsc_context() as context:
        current = scard.SCARD_STATE_UNAWARE
        seen_empty = False
        while True:
            remaining = int((deadline - time.monotonic()) * 1000)
            if remaining <= 0:
                return False
            hresult, states = scard.SCardGetStatusChange(context, remaining, [(reader, current)])
            if _code(hresult) == _code(scard.SCARD_E_TIMEOUT):
                return False
            if hresult != scard.SCARD_S_SUCCESS:
                raise error_for(hresult, "SCardGetStatusChange", reader)
            _name, event, _atr = states[0]
            present = bool(event & scard.SCARD_STATE_PRESENT) and not event & scard.SCARD_STATE_MUTE
            if not event & scard.SCARD_STATE_PRESENT:
                seen_empty = True
            elif present and seen_empty:
                return True
            current = event & ~scard.SCARD_STATE_CHANGED
