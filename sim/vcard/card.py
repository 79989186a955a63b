"""The interface every virtual card implements, and ATR construction."""

from __future__ import annotations

from typing import Protocol


class VirtualCard(Protocol):
    """A card as the vpcd link sees it: an ATR, power events and APDUs."""

    @property
    def atr(self) -> bytes:
        """Answer to reset."""
        ...

    def power_on(self) -> None:
        """The reader powered the card (a fresh session begins)."""
        ...

    def power_off(self) -> None:
        """The reader removed power; volatile state (verified PINs) is lost."""
        ...

    def reset(self) -> None:
        """Warm reset; like power off + on."""
        ...

    def process(self, command: bytes) -> bytes:
        """Answer one command APDU with response data + SW1 SW2."""
        ...


def make_atr(historical: bytes) -> bytes:
    """A T=1 ATR (``3B 8x 80 01 <historical> TCK``) with a correct check byte."""
    if len(historical) > 15:
        raise ValueError("at most 15 historical bytes")
    body = bytes([0x80 | len(historical), 0x80, 0x01]) + historical
    tck = 0
    for byte in body:
        tck ^= byte
    return b"\x3b" + body + bytes([tck])
