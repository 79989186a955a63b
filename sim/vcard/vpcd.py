"""Serving a virtual card to pcscd's vpcd driver over its TCP protocol.

vpcd frames every message with a two-byte big-endian length. A one-byte
message is a control code (power off/on, reset, get ATR); anything longer is a
command APDU to be answered with a response APDU.

:class:`VpcdLink` "inserts" a card by connecting to vpcd's port and "removes"
it by closing the socket. While inserted it reconnects by itself when pcscd
restarts, exactly as a card that stays in a reader reappears when the
service comes back. The card object, and so its state, outlives remove/insert.

For tests of what a kiosk reports when things go wrong, an :class:`Interruption`
pulls the card out (or makes it mute: it never answers, until pulled out) at one
APDU boundary: before the card handles command number N, or after it handled it
but before its answer leaves.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sim.vcard.card import VirtualCard

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 35963

CTRL_OFF = 0
CTRL_ON = 1
CTRL_RESET = 2
CTRL_ATR = 4

#: Decides, from an incoming command APDU, whether to pull the card out right there.
PullTrigger = Callable[[bytes], bool]


@dataclass
class Interruption:
    """Pull the card (or go mute) at one APDU boundary, counted from when it is armed.

    ``index`` 0 is the first command after :meth:`VpcdLink.interrupt`; ``after``
    lets the card handle that command first (its effect on the card happens,
    its answer is lost); ``mute`` keeps the card in the reader, silent.
    """

    index: int
    after: bool = False
    mute: bool = False
    seen: int = 0
    fired: bool = False

    def due(self, after: bool) -> bool:
        """Whether the command now being served is the one, at this side of the card."""
        return not self.fired and self.seen - 1 == self.index and self.after == after


class VpcdLink:
    """Connects one virtual card to one vpcd slot."""

    def __init__(
        self,
        card: VirtualCard,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        retry_delay: float = 0.1,
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.retry_delay = retry_delay
        self._inserted = threading.Event()
        self._removed = threading.Event()
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._pull_trigger: PullTrigger | None = None
        self._pull_after = False
        self._interruption: Interruption | None = None
        self.commands_seen = 0

    # -- public -------------------------------------------------------------

    @property
    def inserted(self) -> bool:
        """Whether the card is (meant to be) in the reader."""
        return self._inserted.is_set()

    def insert(self) -> None:
        """Put the card in the reader: connect to vpcd, and stay connected."""
        if self._inserted.is_set():
            return
        previous = self._thread
        if previous is not None and previous is not threading.current_thread():
            previous.join(timeout=5)  # a card pulled by an interruption: let it finish leaving
        self._inserted.set()
        self._removed.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"vpcd-link-{self.port}", daemon=True
        )
        self._thread.start()

    def remove(self) -> None:
        """Pull the card out: close the socket; the card keeps its state."""
        self._inserted.clear()
        self._removed.set()
        self._close_socket()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None

    def wait_connected(self, timeout: float) -> bool:
        """Block until vpcd accepted the connection (not yet that pcscd saw it)."""
        return self._connected.wait(timeout)

    def pull_on(self, trigger: PullTrigger | None, *, after: bool = False) -> None:
        """Pull the card out, unanswered, when a command matches ``trigger`` (once).

        ``after``: the card handles that command first; only its answer is lost.
        """
        self._pull_after = after
        self._pull_trigger = trigger

    def interrupt(self, interruption: Interruption | None) -> None:
        """Arm (or, with ``None``, disarm) an interruption at an APDU boundary."""
        self._interruption = interruption

    @property
    def interruption_fired(self) -> bool:
        """Whether the armed interruption has happened."""
        return self._interruption is not None and self._interruption.fired

    # -- internals ----------------------------------------------------------

    def _close_socket(self) -> None:
        with self._lock:
            sock, self._socket = self._socket, None
            self._connected.clear()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _run(self) -> None:
        while self._inserted.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2)
            except OSError:
                # vpcd is not listening (pcscd down or restarting): try again shortly.
                self._removed.wait(self.retry_delay)
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if not self._inserted.is_set():
                    sock.close()
                    return
                self._socket = sock
                self._connected.set()
            log.debug("virtual card connected to vpcd port %d", self.port)
            try:
                self._serve(sock)
            except OSError as error:
                log.debug("vpcd connection on port %d ended: %s", self.port, error)
            self._close_socket()
            self.card.power_off()
            self._removed.wait(self.retry_delay)

    def _serve(self, sock: socket.socket) -> None:
        while True:
            message = _receive(sock)
            if message is None:
                return
            if len(message) == 1:
                reply = self._control(message[0])
                if reply is not None:
                    _send(sock, reply)
                continue
            self.commands_seen += 1
            trigger = self._pull_trigger
            pull = trigger is not None and trigger(message)
            if pull and not self._pull_after:
                self._pull_trigger = None
                log.debug("pulling the virtual card out on a matching command")
                self._pull()
                return
            interruption = self._interruption
            if interruption is not None:
                interruption.seen += 1
                if interruption.due(after=False):
                    self._interrupt(interruption)
                    return
            answer = self.card.process(message)
            if pull:
                self._pull_trigger = None
                log.debug("pulling the virtual card out after a matching command")
                self._pull()
                return
            if interruption is not None and interruption.due(after=True):
                self._interrupt(interruption)
                return
            if not answer:
                # vpcd waits forever on an empty frame; no real card can answer nothing.
                log.warning("virtual card gave no answer; sending 6F00 instead")
                answer = b"\x6f\x00"
            _send(sock, answer)

    def _pull(self) -> None:
        self._inserted.clear()
        self._removed.set()

    def _interrupt(self, interruption: Interruption) -> None:
        """Pull the card out, or stay silent until it is pulled out."""
        interruption.fired = True
        if interruption.mute:
            log.debug("the virtual card goes mute")
            self._removed.wait()
            return
        log.debug("pulling the virtual card out at an APDU boundary")
        self._pull()

    def _control(self, code: int) -> bytes | None:
        if code == CTRL_ATR:
            return self.card.atr
        if code == CTRL_ON:
            self.card.power_on()
        elif code == CTRL_OFF:
            self.card.power_off()
        elif code == CTRL_RESET:
            self.card.reset()
        else:
            log.warning("vpcd sent unknown control code %d", code)
        return None


def _quick_ack(sock: socket.socket) -> None:
    """Acknowledge at once, so each APDU costs microseconds rather than 40 ms.

    vpcd writes length and payload separately, and Nagle's algorithm on its side
    would otherwise hold the payload back until our delayed ACK.
    """
    if hasattr(socket, "TCP_QUICKACK"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def _receive_exactly(sock: socket.socket, count: int) -> bytes | None:
    buffer = bytearray()
    while len(buffer) < count:
        _quick_ack(sock)
        chunk = sock.recv(count - len(buffer))
        if not chunk:
            return None
        buffer += chunk
    return bytes(buffer)


def _receive(sock: socket.socket) -> bytes | None:
    header = _receive_exactly(sock, 2)
    if header is None:
        return None
    return _receive_exactly(sock, int.from_bytes(header, "big"))


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(len(payload).to_bytes(2, "big") + payload)
