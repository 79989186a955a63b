"""Small builders shared by the test certificate factories (virtual cards, dev TLS)."""

from __future__ import annotations

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
