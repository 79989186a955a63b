"""BER-TLV (ISO 7816-4 / X.690 subset) encoding and strict decoding.

Cards send SIMPLE-TLV and BER-TLV structures; a malformed one must become a
:class:`~hw.errors.TlvError` and never an ``IndexError`` deep in a profile.
Tags are kept as integers of their full encoded bytes (``0x5FC102``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hw.errors import TlvError

MAX_TAG_BYTES = 3


@dataclass(frozen=True)
class Tlv:
    """One tag-length-value element."""

    tag: int
    value: bytes

    @property
    def constructed(self) -> bool:
        """Whether the value is itself a sequence of TLVs (bit 6 of the first tag byte)."""
        return bool(_first_tag_byte(self.tag) & 0x20)

    def children(self) -> list[Tlv]:
        """Parse the value as nested TLVs."""
        return parse_all(self.value)

    def encode(self) -> bytes:
        """Serialise back to bytes."""
        return encode_tlv(self.tag, self.value)


def _first_tag_byte(tag: int) -> int:
    length = max(1, (tag.bit_length() + 7) // 8)
    return tag >> (8 * (length - 1))


def encode_tag(tag: int) -> bytes:
    """Encode a tag integer to its bytes."""
    if tag < 0:
        raise ValueError("tag must be non-negative")
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def encode_length(length: int) -> bytes:
    """Encode a definite length in the shortest BER form."""
    if length < 0:
        raise ValueError("length must be non-negative")
    if length < 0x80:
        return bytes((length,))
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    if len(body) > 3:
        raise ValueError("length too large for a card object")
    return bytes((0x80 | len(body),)) + body


def encode_tlv(tag: int, value: bytes) -> bytes:
    """Encode one TLV element."""
    return encode_tag(tag) + encode_length(len(value)) + bytes(value)


def encode_all(items: Iterable[tuple[int, bytes]]) -> bytes:
    """Encode a sequence of (tag, value) pairs back to back."""
    return b"".join(encode_tlv(tag, value) for tag, value in items)


def parse_one(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """Parse the TLV at ``offset``; return it and the offset just past it."""
    end = len(data)
    if offset >= end:
        raise TlvError("expected a tag, found the end of the data")
    first = data[offset]
    tag = first
    offset += 1
    if first & 0x1F == 0x1F:
        while True:
            if offset >= end:
                raise TlvError("tag runs past the end of the data")
            byte = data[offset]
            offset += 1
            tag = (tag << 8) | byte
            if (tag.bit_length() + 7) // 8 > MAX_TAG_BYTES:
                raise TlvError("tag longer than three bytes")
            if not byte & 0x80:
                break
    if offset >= end:
        raise TlvError(f"tag {tag:X} has no length")
    length = data[offset]
    offset += 1
    if length == 0x80:
        raise TlvError(f"tag {tag:X} uses the indefinite length form")
    if length > 0x80:
        count = length & 0x7F
        if count > 3:
            raise TlvError(f"tag {tag:X} has a {count}-byte length field")
        if offset + count > end:
            raise TlvError(f"length of tag {tag:X} runs past the end of the data")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    if offset + length > end:
        raise TlvError(f"tag {tag:X} declares {length} bytes but only {end - offset} follow")
    return Tlv(tag, bytes(data[offset : offset + length])), offset + length


def parse_all(data: bytes) -> list[Tlv]:
    """Parse a buffer that must consist of whole TLVs only."""
    items: list[Tlv] = []
    offset = 0
    while offset < len(data):
        item, offset = parse_one(data, offset)
        items.append(item)
    return items


def parse_single(data: bytes, tag: int) -> Tlv:
    """Parse a buffer that must be exactly one TLV with the given tag."""
    item, offset = parse_one(data)
    if item.tag != tag:
        raise TlvError(f"expected tag {tag:X}, found {item.tag:X}")
    if offset != len(data):
        raise TlvError(f"{len(data) - offset} stray bytes after tag {tag:X}")
    return item


def to_dict(items: Iterable[Tlv]) -> dict[int, bytes]:
    """Map tag to value; a repeated tag is malformed for the objects we read."""
    result: dict[int, bytes] = {}
    for item in items:
        if item.tag in result:
            raise TlvError(f"tag {item.tag:X} appears twice")
        result[item.tag] = item.value
    return result
