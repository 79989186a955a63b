"""FASC-N (Federal Agency Smart Credential Number) in its 25-byte BCD form.

The FASC-N in a PIV CHUID is 40 characters of 5 bits (4 data bits, least
significant first, and an odd-parity bit), followed by nothing: the last
character is an LRC over the others. See TIG SCEPACS v2.3, section 6.
"""

from __future__ import annotations

from dataclasses import dataclass

from hw.errors import UnexpectedResponse

FASCN_LENGTH = 25
_SS, _FS, _ES = 0xB, 0xD, 0xF


class FascnError(UnexpectedResponse):
    """The FASC-N bytes are not a valid 40-character BCD string."""


@dataclass(frozen=True)
class Fascn:
    """The fields of a FASC-N; all are digit strings of fixed width."""

    agency_code: str
    system_code: str
    credential_number: str
    credential_series: str = "0"
    individual_credential_issue: str = "1"
    person_identifier: str = "0000000000"
    organizational_category: str = "1"
    organizational_identifier: str = "0000"
    association_category: str = "1"

    _WIDTHS = (4, 4, 6, 1, 1, 10, 1, 4, 1)

    def fields(self) -> tuple[str, ...]:
        """The nine fields in wire order."""
        return (
            self.agency_code,
            self.system_code,
            self.credential_number,
            self.credential_series,
            self.individual_credential_issue,
            self.person_identifier,
            self.organizational_category,
            self.organizational_identifier,
            self.association_category,
        )

    def __str__(self) -> str:
        return "-".join(self.fields())


def _with_parity(value: int) -> int:
    """5-bit character: 4 data bits (LSB first on the wire) + odd parity."""
    bits = [(value >> i) & 1 for i in range(4)]
    parity = 1 - (sum(bits) % 2)
    out = 0
    for bit in [*bits, parity]:
        out = (out << 1) | bit
    return out


def _from_char(char5: int) -> int:
    bits = [(char5 >> (4 - i)) & 1 for i in range(5)]
    if sum(bits) % 2 != 1:
        raise FascnError("FASC-N character has wrong parity")
    return bits[0] | bits[1] << 1 | bits[2] << 2 | bits[3] << 3


def encode(fascn: Fascn) -> bytes:
    """Encode to the 25 bytes stored in a CHUID."""
    values: list[int] = [_SS]
    for index, (field, width) in enumerate(zip(fascn.fields(), Fascn._WIDTHS, strict=True)):
        if len(field) != width or not field.isdigit():
            raise ValueError(f"FASC-N field {index} must be {width} digits")
        values.extend(int(c) for c in field)
        if index < 5:
            values.append(_FS)
    values.append(_ES)
    lrc = 0
    for value in values:
        lrc ^= value
    values.append(lrc)
    bits = 0
    for value in values:
        bits = (bits << 5) | _with_parity(value)
    return bits.to_bytes(FASCN_LENGTH, "big")


def decode(data: bytes) -> Fascn:
    """Decode the 25-byte BCD form; raise :class:`FascnError` on anything malformed."""
    if len(data) != FASCN_LENGTH:
        raise FascnError(f"FASC-N must be {FASCN_LENGTH} bytes, got {len(data)}")
    bits = int.from_bytes(data, "big")
    values = [_from_char((bits >> (5 * (39 - i))) & 0x1F) for i in range(40)]
    lrc = 0
    for value in values[:-1]:
        lrc ^= value
    if lrc != values[-1]:
        raise FascnError("FASC-N check character (LRC) does not match")
    if values[0] != _SS or values[38] != _ES:
        raise FascnError("FASC-N lacks its start or end sentinel")
    fields: list[str] = []
    pos = 1
    for index, width in enumerate(Fascn._WIDTHS):
        chunk = values[pos : pos + width]
        if any(v > 9 for v in chunk):
            raise FascnError(f"FASC-N field {index} holds a non-digit")
        fields.append("".join(str(v) for v in chunk))
        pos += width
        if index < 5:
            if values[pos] != _FS:
                raise FascnError("FASC-N field separator missing")
            pos += 1
    return Fascn(*fields)
