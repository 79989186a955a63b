"""An APDU log at the virtual card: what each command was and what the card answered.

Wraps any virtual card (it is one itself) and notes, for every command, its
header, its lengths and whether it was extended, and the status word it got, so
that counts and lists come from what reached the card, not from the code under
measure. Command data is never kept, except a SELECT's (a file path or an AID):
a VERIFY or a RESET RETRY COUNTER carries a PIN or a PUK.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from hw.apdu import parse_command, uses_extended_length
from sim.vcard.card import VirtualCard

#: Instruction bytes by name.
INSTRUCTIONS = {
    0xA4: "SELECT",
    0xB0: "READ BINARY",
    0xB1: "READ BINARY (odd)",
    0xC0: "GET RESPONSE",
    0xCA: "GET DATA",
    0xCB: "GET DATA (odd)",
    0x20: "VERIFY",
    0x24: "CHANGE REFERENCE DATA",
    0x2C: "RESET RETRY COUNTER",
    0x84: "GET CHALLENGE",
    0x82: "EXTERNAL AUTHENTICATE",
    0x87: "GENERAL AUTHENTICATE",
}
INS_SELECT = 0xA4


@dataclass(frozen=True)
class LoggedCommand:
    """One command as the card got it, and the status word it answered."""

    ins: int
    p1: int
    p2: int
    #: A SELECT's data (path or AID); empty for every other command.
    selected: bytes
    data_length: int
    le: int | None
    extended: bool
    answer_length: int
    sw: int

    @property
    def name(self) -> str:
        """The instruction's name."""
        return INSTRUCTIONS.get(self.ins, f"INS {self.ins:02X}")

    def __str__(self) -> str:
        parts = [f"{self.name} {self.p1:02X} {self.p2:02X}"]
        if self.selected:
            parts.append(self.selected.hex().upper())
        elif self.data_length:
            parts.append(f"[{self.data_length} bytes]")
        if self.le is not None:
            parts.append(f"Le={self.le}{' (extended)' if self.extended else ''}")
        answer = f"{self.answer_length} bytes, " if self.answer_length else ""
        return " ".join(parts) + f" -> {answer}{self.sw:04X}"


def _logged(raw: bytes, answer: bytes) -> LoggedCommand:
    sw = int.from_bytes(answer[-2:], "big") if len(answer) >= 2 else 0
    try:
        command = parse_command(raw)
    except ValueError:  # the card refused it as malformed; note what can be told
        ins, p1, p2 = (raw + bytes(4))[1:4]
        return LoggedCommand(ins, p1, p2, b"", max(0, len(raw) - 5), None, False, 0, sw)
    return LoggedCommand(
        ins=command.ins,
        p1=command.p1,
        p2=command.p2,
        selected=command.data if command.ins == INS_SELECT else b"",
        data_length=len(command.data),
        le=command.le,
        extended=uses_extended_length(raw),
        answer_length=max(0, len(answer) - 2),
        sw=sw,
    )


class ApduLog:
    """A virtual card that notes every command it is sent (never PIN or PUK data)."""

    def __init__(self, card: VirtualCard) -> None:
        self.card = card
        self.commands: list[LoggedCommand] = []

    @property
    def atr(self) -> bytes:
        """The wrapped card's ATR."""
        return self.card.atr

    def power_on(self) -> None:
        """Passed on to the card."""
        self.card.power_on()

    def power_off(self) -> None:
        """Passed on to the card."""
        self.card.power_off()

    def reset(self) -> None:
        """Passed on to the card."""
        self.card.reset()

    def process(self, command: bytes) -> bytes:
        """The card's answer; the command and its status word noted."""
        answer = self.card.process(command)
        self.commands.append(_logged(command, answer))
        return answer

    def mark(self) -> int:
        """A place in the log, for :meth:`since`."""
        return len(self.commands)

    def since(self, mark: int) -> list[LoggedCommand]:
        """The commands sent after ``mark``."""
        return self.commands[mark:]

    def summary(self, mark: int) -> str:
        """``N (SELECT 3, READ BINARY 13, ...)`` for the commands after ``mark``."""
        names = collections.Counter(command.name for command in self.since(mark))
        parts = ", ".join(f"{name} {count}" for name, count in names.most_common())
        return f"{len(self.commands) - mark} ({parts})"
