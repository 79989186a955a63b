"""The APDU processor: framing, response chaining and typed status words.

Sits between a raw transport (anything with ``transmit(bytes) -> bytes``, such
as :class:`hw.pcsc.PcscConnection`) and the card profiles, in the layered
style of Yubico's yubikit: profiles build :class:`~hw.apdu.CommandApdu`
objects and get back data or a typed :class:`~hw.status_words.ApduError`.

It handles ``61xx`` (more data: GET RESPONSE until done), ``6Cxx`` (wrong Le:
resend with the Le the card asks for) and logs the traffic at DEBUG level with
secret command data redacted. It also keeps what is known of whether the card
takes extended-length commands (:mod:`hw.extended_length`), so that every reader
of files on this connection asks the card at most once.
"""

from __future__ import annotations

import logging
from typing import Protocol

from hw.apdu import SHORT_MAX_LE, CommandApdu, ResponseApdu
from hw.errors import UnexpectedResponse
from hw.extended_length import initial_extended_length
from hw.status_words import SW_OK, error_for

log = logging.getLogger("hw.apdu")

#: Upper bound on chained response data; protects against a card that never stops.
MAX_RESPONSE_BYTES = 65536
#: Upper bound on GET RESPONSE / resend rounds for one command.
MAX_ROUNDS = 300


class Transport(Protocol):
    """What the processor needs from a connection."""

    def transmit(self, command: bytes) -> bytes:
        """Send raw command bytes; return raw response bytes with SW1 SW2."""
        ...


class ApduProcessor:
    """Sends commands and reassembles responses for one card connection."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        #: Number of APDUs actually exchanged with the card (for benchmarks).
        self.exchanges = 0
        self._extended_length: bool | None = None
        self._extended_asked = False

    @property
    def extended_length(self) -> bool | None:
        """Whether the card takes extended-length commands; ``None`` until something says.

        First asked of the link and the ATR (a transport may offer ``atr`` and
        ``carries_extended_apdus``); a reader of files sets it from the card's
        answer to its first extended command.
        """
        if not self._extended_asked:
            self._extended_asked = True
            atr = getattr(self.transport, "atr", b"")
            link = getattr(self.transport, "carries_extended_apdus", True)
            self._extended_length = initial_extended_length(atr, link_carries_extended=link)
        return self._extended_length

    @extended_length.setter
    def extended_length(self, value: bool) -> None:
        self._extended_asked = True
        self._extended_length = value

    def _exchange(self, command: CommandApdu) -> ResponseApdu:
        log.debug("> %s", command.describe())
        raw = self.transport.transmit(command.encode())
        self.exchanges += 1
        response = ResponseApdu.parse(raw)
        log.debug("< %d bytes, SW %04X", len(response.data), response.sw)
        return response

    def transmit(self, command: CommandApdu) -> ResponseApdu:
        """Send one command; follow ``61xx``/``6Cxx``; return the final response.

        The status word is not checked here: use :meth:`send` for that.
        """
        response = self._exchange(command)
        data = bytearray()
        rounds = 0
        while True:
            rounds += 1
            if rounds > MAX_ROUNDS:
                raise UnexpectedResponse("card kept asking for more exchanges; giving up")
            if response.sw1 == 0x6C:
                if data:
                    raise UnexpectedResponse("card asked for a resend in the middle of chaining")
                wanted = response.sw2 or SHORT_MAX_LE
                if command.le == wanted:
                    raise UnexpectedResponse(f"card asked again for Le={wanted}")
                command = command.with_le(wanted)
                response = self._exchange(command)
                continue
            data += response.data
            if len(data) > MAX_RESPONSE_BYTES:
                raise UnexpectedResponse("card answered more data than any object can hold")
            if response.sw1 == 0x61:
                get_response = CommandApdu(
                    command.cla & 0x03, 0xC0, 0x00, 0x00, le=response.sw2 or SHORT_MAX_LE
                )
                response = self._exchange(get_response)
                continue
            return ResponseApdu(bytes(data), response.sw)

    def send(self, command: CommandApdu) -> bytes:
        """Send one command and return its data; raise a typed error unless 9000."""
        response = self.transmit(command)
        if response.sw != SW_OK:
            raise error_for(response.sw)
        return response.data
