"""Small builders shared by the test certificate factories (virtual cards, dev TLS).

Also the malformed certificates a hostile or broken card may carry, for the
tests that the card layer names them instead of crashing.
"""

from __future__ import annotations

from collections.abc import Callable

from asn1crypto import x509 as asn1_x509
from cryptography import x509

_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def key_usage(*names: str) -> x509.KeyUsage:
    """A KeyUsage with just the named bits set (the others False)."""
    unknown = set(names) - set(_USAGES)
    if unknown:
        raise ValueError(f"unknown key usages: {sorted(unknown)}")
    return x509.KeyUsage(**{name: name in names for name in _USAGES})


def _edited(der: bytes, edit: Callable[[list[asn1_x509.Extension]], None]) -> bytes:
    """The certificate with its extension list changed (the signature no longer matches)."""
    certificate = asn1_x509.Certificate.load(der)
    tbs = certificate["tbs_certificate"]
    extensions = list(tbs["extensions"])
    edit(extensions)
    tbs["extensions"] = asn1_x509.Extensions(extensions)
    certificate["tbs_certificate"] = tbs
    return certificate.dump(force=True)


def with_duplicate_extension(der: bytes) -> bytes:
    """A certificate carrying its first extension twice (a malformed card's; RFC 5280 forbids)."""
    return _edited(der, lambda extensions: extensions.append(extensions[0].copy()))


def with_malformed_key_usage(der: bytes) -> bytes:
    """A certificate whose key usage holds a SEQUENCE where its BIT STRING belongs.

    Changed in place (one byte, no length changes), so the certificate still loads
    and only reading its extensions fails.
    """
    oid = bytes.fromhex("0603551d0f")  # OBJECT IDENTIFIER 2.5.29.15 (keyUsage)
    at = der.index(oid) + len(oid)
    if der[at] == 0x01:  # the optional "critical" BOOLEAN
        at += 3
    if der[at] != 0x04 or der[at + 2] != 0x03:
        raise ValueError("unexpected key usage encoding")
    return der[: at + 2] + b"\x30" + der[at + 3 :]
