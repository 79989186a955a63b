"""Mutual TLS as the kiosk does it, and TLS failures in words a technician can act on.

Shared by the card service check and the broker check: both trust only the CA file the
configuration names and present the kiosk's device certificate. The failures told apart:
the kiosk's own files cannot be used, the server's certificate is not from the
configured CA (wrong CA file), is outside its validity (often the kiosk's clock), or is
for another name, and the server refused the kiosk's certificate.
"""

from __future__ import annotations

import ssl
from pathlib import Path

#: OpenSSL's verify codes (``X509_V_ERR_*``) the words below tell apart.
_NOT_YET_VALID, _EXPIRED = 9, 10
_NAME_MISMATCH = frozenset({62, 64})  # host name, IP address


def client_context(ca_file: Path, client_cert: Path, client_key: Path) -> ssl.SSLContext:
    """TLS 1.2+, the one CA trusted, the device certificate presented.

    Raises ``OSError`` or ``ssl.SSLError`` when a file is missing or unusable.
    """
    context = ssl.create_default_context(cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(client_cert, client_key)
    return context


def files_words(error: Exception, ca_file: Path, cert: Path, key: Path) -> tuple[str, str]:
    """Found and fix when the kiosk's own CA, certificate or key cannot be loaded."""
    return (
        f"the kiosk's TLS files cannot be used ({error}): CA {ca_file}, "
        f"device certificate {cert}, key {key}",
        "enrol the kiosk ('kiosk-provision enrol'), which installs the device certificate, its "
        "key and the CA files; if they exist, check that they are readable by this user",
    )


def _refused_our_certificate(error: ssl.SSLError) -> bool:
    reason = (error.reason or "").upper()
    return "ALERT" in reason and any(
        word in reason for word in ("CERTIFICATE", "UNKNOWN_CA", "ACCESS_DENIED", "DECRYPT")
    )


def tls_words(
    error: ssl.SSLError, *, what: str, ca_key: str, ca_file: Path, client_cert: Path
) -> tuple[str, str]:
    """Found and fix for a failed TLS handshake with the server called ``what``."""
    if isinstance(error, ssl.SSLCertVerificationError):
        code = error.verify_code
        message = error.verify_message
        if code in (_NOT_YET_VALID, _EXPIRED):
            return (
                f"the {what}'s certificate is outside its validity ({message}) by this "
                "kiosk's clock",
                "check the clock check below first: a wrong clock makes valid certificates "
                f"look expired; if the clock is right, tell facility IT the {what}'s "
                "certificate has expired",
            )
        if code in _NAME_MISMATCH:
            return (
                f"the {what}'s certificate is not for the name the kiosk uses ({message})",
                f"use the name in the {what}'s certificate in kiosk.toml (ask facility IT "
                "which), or enrol again to get the site's right addresses",
            )
        return (
            f"wrong CA: the {what}'s certificate is not signed by the CA in {ca_file} ({message})",
            f"{ca_key} in kiosk.toml must name the CA certificate of the {what}; enrolment "
            "installs it: enrol again, or ask facility IT for the right CA file",
        )
    if _refused_our_certificate(error):
        return (
            f"the {what} refused this kiosk's device certificate ({error.reason})",
            f"the device certificate {client_cert} is not accepted: it may be revoked, expired "
            "or from another fleet; renew it ('kiosk-provision renew') or enrol the kiosk again",
        )
    return (
        f"the TLS connection to the {what} failed ({error.reason or error})",
        f"check that the address in kiosk.toml is the {what}'s TLS port; "
        "if it is, tell facility IT, with this report",
    )
