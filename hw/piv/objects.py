"""Parsing (and, for the virtual card, building) PIV data objects.

Pure functions from bytes to typed values; every malformed input becomes an
:class:`~hw.errors.UnexpectedResponse` subclass, never a stray exception.
"""

from __future__ import annotations

import datetime as dt
import gzip
import uuid
import zlib
from dataclasses import dataclass

from cryptography import x509

from hw import tlv
from hw.errors import UnexpectedResponse
from hw.piv import constants as c
from hw.piv import fascn as fascn_codec


class ObjectError(UnexpectedResponse):
    """A PIV data object has the wrong structure or content."""


@dataclass(frozen=True)
class Chuid:
    """Card Holder Unique Identifier: who issued the card and which card it is."""

    fascn: fascn_codec.Fascn
    guid: uuid.UUID
    expires: dt.date


def unwrap_data_object(data: bytes) -> bytes:
    """Strip the ``53`` container every GET DATA answer carries."""
    return tlv.parse_single(data, c.TAG_DATA).value


def parse_chuid(content: bytes) -> Chuid:
    """Parse the value inside the ``53`` container of the CHUID object."""
    fields = tlv.to_dict(tlv.parse_all(content))
    try:
        raw_fascn = fields[c.TAG_FASCN]
        raw_guid = fields[c.TAG_GUID]
        raw_expiry = fields[c.TAG_EXPIRY]
    except KeyError as missing:
        raise ObjectError(f"CHUID lacks tag {missing.args[0]:X}") from None
    if len(raw_guid) != 16:
        raise ObjectError(f"CHUID GUID must be 16 bytes, got {len(raw_guid)}")
    try:
        expires = dt.datetime.strptime(raw_expiry.decode("ascii"), "%Y%m%d").date()
    except (UnicodeDecodeError, ValueError):
        raise ObjectError("CHUID expiry date is not YYYYMMDD") from None
    return Chuid(fascn_codec.decode(raw_fascn), uuid.UUID(bytes=raw_guid), expires)


def build_chuid(chuid: Chuid) -> bytes:
    """Build the CHUID value (the part inside ``53``)."""
    return tlv.encode_all(
        [
            (c.TAG_FASCN, fascn_codec.encode(chuid.fascn)),
            (c.TAG_GUID, chuid.guid.bytes),
            (c.TAG_EXPIRY, chuid.expires.strftime("%Y%m%d").encode("ascii")),
            (c.TAG_SIGNATURE, b""),
            (c.TAG_ERROR_DETECTION, b""),
        ]
    )


#: Decompressed certificates larger than this are refused (a zip bomb guard).
MAX_CERTIFICATE_BYTES = 16384


def parse_certificate(content: bytes) -> x509.Certificate:
    """Parse a certificate object (tags 70, 71, FE), honouring the gzip flag."""
    fields = tlv.to_dict(tlv.parse_all(content))
    if c.TAG_CERTIFICATE not in fields:
        raise ObjectError("certificate object lacks the certificate (tag 70)")
    der = fields[c.TAG_CERTIFICATE]
    info = fields.get(c.TAG_CERT_INFO, b"\x00")
    if len(info) != 1:
        raise ObjectError("certificate info (tag 71) must be one byte")
    if info[0] & c.CERT_INFO_GZIP:
        try:
            inflater = zlib.decompressobj(wbits=31)
            der = inflater.decompress(der, MAX_CERTIFICATE_BYTES)
        except zlib.error:
            raise ObjectError("compressed certificate does not inflate") from None
        if inflater.unconsumed_tail:
            raise ObjectError("compressed certificate is implausibly large")
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise ObjectError("certificate object does not hold a valid X.509 certificate") from None


def build_certificate_object(der: bytes, *, compress: bool = False) -> bytes:
    """Build a certificate object value, gzip-compressed if asked."""
    payload = gzip.compress(der, mtime=0) if compress else der
    info = bytes([c.CERT_INFO_GZIP if compress else 0x00])
    return tlv.encode_all(
        [(c.TAG_CERTIFICATE, payload), (c.TAG_CERT_INFO, info), (c.TAG_ERROR_DETECTION, b"")]
    )


def parse_retries_metadata(content: bytes) -> tuple[int, int]:
    """Parse YubiKey GET METADATA for a PIN/PUK: (total tries, remaining tries)."""
    fields = tlv.to_dict(tlv.parse_all(content))
    retries = fields.get(0x06)
    if retries is None or len(retries) != 2:
        raise ObjectError("PIN metadata lacks the retries field")
    return retries[0], retries[1]
