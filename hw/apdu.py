"""Command and response APDUs (ISO 7816-4), short and extended.

A :class:`CommandApdu` knows whether its data is secret (PIN, PUK, key
material): the processor then logs its length but never its bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hw.errors import UnexpectedResponse

SHORT_MAX_DATA = 255
SHORT_MAX_LE = 256
EXTENDED_MAX_DATA = 65535
EXTENDED_MAX_LE = 65536


@dataclass(frozen=True)
class CommandApdu:
    """One command to the card.

    ``le`` is the number of response bytes expected: ``None`` for none (case 1
    or 3), 256 (short) or 65536 (extended) for "as many as there are".
    ``sensitive`` marks ``data`` as secret so it is never logged.
    """

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    sensitive: bool = False

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFF:
                raise ValueError(f"{name} must be one byte, got {value}")
        if len(self.data) > EXTENDED_MAX_DATA:
            raise ValueError(f"command data of {len(self.data)} bytes is too long")
        if self.le is not None and not 0 < self.le <= EXTENDED_MAX_LE:
            raise ValueError(f"Le must be 1..{EXTENDED_MAX_LE}, got {self.le}")

    @property
    def extended(self) -> bool:
        """Whether this command needs the extended-length encoding."""
        return len(self.data) > SHORT_MAX_DATA or (self.le or 0) > SHORT_MAX_LE

    def with_le(self, le: int) -> CommandApdu:
        """The same command asking for ``le`` bytes (used for ``6Cxx`` resends)."""
        return replace(self, le=le)

    def encode(self) -> bytes:
        """Serialise to bytes as sent to the reader."""
        header = bytes((self.cla, self.ins, self.p1, self.p2))
        if not self.extended:
            body = b""
            if self.data:
                body += bytes((len(self.data),)) + self.data
            if self.le is not None:
                body += bytes((0 if self.le == SHORT_MAX_LE else self.le,))
            return header + body
        body = b""
        if self.data:
            body += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
        if self.le is not None:
            le = (0 if self.le == EXTENDED_MAX_LE else self.le).to_bytes(2, "big")
            body += le if self.data else b"\x00" + le
        return header + body

    def describe(self) -> str:
        """Hex for the debug log, with secret data replaced by its length."""
        head = f"{self.cla:02X} {self.ins:02X} {self.p1:02X} {self.p2:02X}"
        if self.data:
            if self.sensitive:
                head += f" [{len(self.data)} secret bytes redacted]"
            else:
                head += f" Lc={len(self.data)} {self.data.hex(' ').upper()}"
        if self.le is not None:
            head += f" Le={self.le}"
        return head


@dataclass(frozen=True)
class ResponseApdu:
    """The card's answer: data and the two status bytes."""

    data: bytes
    sw: int

    @classmethod
    def parse(cls, raw: bytes) -> ResponseApdu:
        """Split raw reader output; fewer than two bytes is a protocol error."""
        if len(raw) < 2:
            raise UnexpectedResponse(f"card answered {len(raw)} bytes, too short for a status word")
        return cls(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))

    @property
    def sw1(self) -> int:
        """First status byte."""
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        """Second status byte."""
        return self.sw & 0xFF


def uses_extended_length(raw: bytes) -> bool:
    """Whether raw command bytes are in the extended-length encoding (Lc or Le of 2-3 bytes)."""
    return len(raw) >= 7 and raw[4] == 0


def parse_command(raw: bytes) -> CommandApdu:
    """Parse command bytes (any ISO 7816-4 case, short or extended).

    Used by the virtual cards; raises :class:`ValueError` on a malformed command.
    """
    if len(raw) < 4:
        raise ValueError("a command has at least four bytes")
    cla, ins, p1, p2 = raw[:4]
    body = raw[4:]
    if not body:
        return CommandApdu(cla, ins, p1, p2)
    if len(body) == 1:
        return CommandApdu(cla, ins, p1, p2, le=body[0] or SHORT_MAX_LE)
    if body[0] != 0:
        lc = body[0]
        if len(body) == 1 + lc:
            return CommandApdu(cla, ins, p1, p2, bytes(body[1:]))
        if len(body) == 2 + lc:
            return CommandApdu(cla, ins, p1, p2, bytes(body[1:-1]), le=body[-1] or SHORT_MAX_LE)
        raise ValueError("Lc does not match the command length")
    if len(body) == 3:
        return CommandApdu(cla, ins, p1, p2, le=int.from_bytes(body[1:3], "big") or EXTENDED_MAX_LE)
    if len(body) < 4:
        raise ValueError("truncated extended-length command")
    lc = int.from_bytes(body[1:3], "big")
    if lc == 0:
        raise ValueError("extended Lc of zero")
    if len(body) == 3 + lc:
        return CommandApdu(cla, ins, p1, p2, bytes(body[3:]))
    if len(body) == 5 + lc:
        le = int.from_bytes(body[-2:], "big") or EXTENDED_MAX_LE
        return CommandApdu(cla, ins, p1, p2, bytes(body[3:-2]), le=le)
    raise ValueError("extended Lc does not match the command length")
