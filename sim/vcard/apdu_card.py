"""Plumbing shared by the virtual cards: parsing, dispatch, response and command chaining.

A subclass declares its handlers by INS and its volatile state; this base turns
raw bytes into :class:`~hw.apdu.CommandApdu`, answers ``6700`` to malformed
commands and ``6D00`` to unknown instructions, chains answers longer than 256
bytes through ``61xx``/GET RESPONSE, and joins chained commands (CLA bit 0x10).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from hw.apdu import SHORT_MAX_LE, CommandApdu, parse_command, uses_extended_length
from hw.errors import TlvError
from hw.pins import PAD, PIV_PIN_MAX, PIV_PIN_MIN, PIV_REFERENCE_LENGTH
from sim.vcard.card import make_atr

SW_OK = b"\x90\x00"
INS_GET_RESPONSE = 0xC0

Handler = Callable[[CommandApdu], bytes]


def sw(value: int) -> bytes:
    """Two status bytes."""
    return value.to_bytes(2, "big")


def tries_sw(tries_left: int) -> bytes:
    """``63CX``: verification failed, X tries left."""
    return sw(0x63C0 | min(tries_left, 15))


def valid_pin_block(block: bytes) -> bool:
    """Whether 8 bytes are 6-8 ASCII digits padded with ``FF`` (PIV and SITHS PINs)."""
    if len(block) != PIV_REFERENCE_LENGTH:
        return False
    digits = block.rstrip(bytes([PAD]))
    return PIV_PIN_MIN <= len(digits) <= PIV_PIN_MAX and all(0x30 <= b <= 0x39 for b in digits)


class PinCounter:
    """A reference (PIN, PUK, key) with a retry counter, as a card keeps it."""

    def __init__(self, value: bytes, max_tries: int, tries_left: int | None = None) -> None:
        self.value = value
        self.max_tries = max_tries
        self.tries_left = max_tries if tries_left is None else tries_left

    @property
    def blocked(self) -> bool:
        """No tries left."""
        return self.tries_left <= 0

    def check(self, candidate: bytes) -> bool:
        """Compare, spending a try on failure and restoring all tries on success."""
        if candidate == self.value:
            self.tries_left = self.max_tries
            return True
        self.tries_left = max(0, self.tries_left - 1)
        return False

    def set(self, value: bytes) -> None:
        """New value; the counter starts afresh."""
        self.value = value
        self.tries_left = self.max_tries


class ApduCard:
    """Base of the virtual cards; subclasses fill in :meth:`handlers`."""

    #: Instructions that may arrive in chained parts (CLA 0x10).
    chainable: frozenset[int] = frozenset()

    def __init__(self, historical: bytes) -> None:
        self.lock = threading.RLock()
        self._atr = make_atr(historical)
        self._pending = b""
        self._chain = b""
        self.clear_volatile()

    @property
    def atr(self) -> bytes:
        """Answer to reset."""
        return self._atr

    def clear_volatile(self) -> None:
        """Forget session state (verified PINs, challenges); subclasses extend."""

    def handlers(self) -> dict[int, Handler]:
        """INS -> handler."""
        raise NotImplementedError

    def power_on(self) -> None:
        """Fresh session."""
        with self.lock:
            self._pending = self._chain = b""
            self.clear_volatile()

    def power_off(self) -> None:
        """Volatile state is lost."""
        self.power_on()

    def reset(self) -> None:
        """Warm reset."""
        self.power_on()

    def process(self, raw: bytes) -> bytes:
        """Answer one command APDU."""
        with self.lock:
            try:
                command = parse_command(raw)
            except ValueError:
                return sw(0x6700)
            if not self.takes_extended_apdus and uses_extended_length(raw):
                return sw(0x6700)  # an extended length: this card cannot parse it
            if command.ins == INS_GET_RESPONSE and command.cla & 0x10 == 0:
                return self._get_response(command)
            self._pending = b""
            if command.cla & ~0x10 != 0x00:
                return sw(0x6E00)
            if command.cla & 0x10:
                if command.ins not in self.chainable:
                    return sw(0x6884)
                self._chain += command.data
                return SW_OK
            if self._chain:
                command = CommandApdu(
                    command.cla,
                    command.ins,
                    command.p1,
                    command.p2,
                    self._chain + command.data,
                    command.le,
                )
                self._chain = b""
            handler = self.handlers().get(command.ins)
            if handler is None:
                return sw(0x6D00)
            try:
                return handler(command)
            except TlvError:
                return sw(0x6A80)

    #: T=0 style: an answer to a command that carried data waits for GET RESPONSE.
    answers_through_get_response = False
    #: No GET RESPONSE: long answers only to an extended-length Le, in one piece.
    extended_length_only = False
    #: Extended-length commands are understood (else refused with 6700).
    takes_extended_apdus = True

    def respond(self, data: bytes, command: CommandApdu) -> bytes:
        """Answer with data: up to 256 bytes (or Le, if extended) now, the rest via 61xx."""
        if self.answers_through_get_response and command.data and data:
            self._pending = data
            return bytes([0x61, len(data) if len(data) < 256 else 0])
        if self.extended_length_only and not command.extended and len(data) > SHORT_MAX_LE:
            return sw(0x6700)
        return self._deliver(data, command)

    def _deliver(self, data: bytes, command: CommandApdu) -> bytes:
        chunk = (command.le or SHORT_MAX_LE) if command.extended else SHORT_MAX_LE
        head, rest = data[:chunk], data[chunk:]
        self._pending = rest
        if rest:
            return head + bytes([0x61, len(rest) if len(rest) < 256 else 0])
        return head + SW_OK

    def _get_response(self, command: CommandApdu) -> bytes:
        if self.extended_length_only:
            return sw(0x6D00)
        if not self._pending:
            return sw(0x6985)
        return self._deliver(self._pending, CommandApdu(0, 0, 0, 0, le=command.le))
