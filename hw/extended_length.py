"""Whether a card takes extended-length APDUs, decided from what the card itself says.

A certificate of 1-2 KB read in short APDUs costs one READ BINARY per 256 bytes;
with an extended-length Le it is one command. Not every card (or reader link)
takes extended length, and a card that does not must still be read, so the card
layer asks for it only where the card allows it:

* the ATR's historical bytes may carry the card's capabilities (ISO/IEC 7816-4,
  8.1.1.2.7: compact-TLV tag 7, third software function table, bit b7 "extended
  Lc and Le fields"): that answer is taken as it stands;
* a T=0 link cannot carry an extended-length command at all;
* otherwise nothing is known, and the first long read asks for the whole file:
  an answer with more than 256 bytes shows the card takes it; any refusal (6700,
  6Cxx, another status word, a reader that cannot send it) means short reads
  from then on (:mod:`hw.pkcs15.files`).

The ATR parsing here is pure; the connection supplies the ATR and the protocol.
"""

from __future__ import annotations

#: Compact-TLV tag of the card capabilities (ISO/IEC 7816-4, table 117).
CARD_CAPABILITIES = 0x7
#: Third software function table: "extended Lc and Le fields" (b7).
EXTENDED_LC_LE = 0x40
#: Category indicators of historical bytes in compact-TLV (ISO/IEC 7816-4, 8.1.1).
_COMPACT_TLV_WITH_STATUS_LAST = 0x00
_COMPACT_TLV = 0x80


def historical_bytes(atr: bytes) -> bytes:
    """The historical bytes of an ATR (ISO/IEC 7816-3, 8.2); empty if it is malformed."""
    if len(atr) < 2:
        return b""
    count = atr[1] & 0x0F
    indicator = atr[1] >> 4
    position = 2
    while True:
        present = bin(indicator & 0x07).count("1")  # TA, TB, TC
        position += present
        if not indicator & 0x08:  # no TD: the interface bytes end here
            break
        if position >= len(atr):
            return b""
        indicator = atr[position] >> 4
        position += 1
    if position + count > len(atr):
        return b""
    return atr[position : position + count]


def _compact_tlv(data: bytes) -> dict[int, bytes]:
    """Compact-TLV objects by tag (the first of each); stops at anything malformed."""
    found: dict[int, bytes] = {}
    position = 0
    while position < len(data):
        tag, length = data[position] >> 4, data[position] & 0x0F
        value = data[position + 1 : position + 1 + length]
        if len(value) != length:
            break
        found.setdefault(tag, value)
        position += 1 + length
    return found


def announced_extended_length(atr: bytes) -> bool | None:
    """What the ATR says of extended Lc/Le: ``True``, ``False``, or ``None`` when it is silent.

    Only historical bytes in compact-TLV (category 00 or 80) can say it, and only
    with a card-capabilities object of three bytes; proprietary historical bytes
    (many cards' own) say nothing.
    """
    history = historical_bytes(atr)
    if not history:
        return None
    if history[0] == _COMPACT_TLV_WITH_STATUS_LAST:
        objects = _compact_tlv(history[1:-3])
    elif history[0] == _COMPACT_TLV:
        objects = _compact_tlv(history[1:])
    else:
        return None
    capabilities = objects.get(CARD_CAPABILITIES, b"")
    if len(capabilities) < 3:
        return None
    return bool(capabilities[2] & EXTENDED_LC_LE)


def initial_extended_length(atr: bytes, *, link_carries_extended: bool) -> bool | None:
    """What is known before any command: the link's limit first, then the ATR's word."""
    if not link_carries_extended:
        return False
    return announced_extended_length(atr)
