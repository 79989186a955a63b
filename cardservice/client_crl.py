"""The kiosks' CRL: loaded at start, reloaded when the file changes, enforced at once.

The fleet publishes the device CA's CRL (``kiosk-fleet crl --out FILE``, or
``GET /v1/crl``); ``kiosk-cardservice serve --client-crl FILE`` points here. The
file is looked at every :data:`CHECK_INTERVAL` seconds; when it changed and holds
valid CRLs (each signed by a CA of ``--client-ca``), new TLS handshakes verify against
it (OpenSSL's leaf CRL check) and open connections of revoked certificates are
dropped. So a revoked kiosk is refused within that interval of the file's change.
A file that cannot be read or does not verify is logged and the previous CRL stays.
A CRL in use that comes close to its next update, or passes it, is told in the log
(:func:`staleness`) when that starts and every hour while it lasts.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

log = logging.getLogger(__name__)

#: Seconds between looks at the CRL file (the longest a revoked kiosk is still served).
CHECK_INTERVAL = 5.0
#: A CRL this close to its next update is warned about at every load.
STALE_WARNING = dt.timedelta(days=2)
_BLOCK = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.S)


class CrlError(OSError):
    """The CRL file cannot be used (the message says why)."""


#: Seconds between reminders while the CRL in use is close to or past its next update.
REMIND_EVERY = 3600.0


@dataclass(frozen=True)
class LoadedCrl:
    """The revoked serial numbers, the file's signature when read, and when it goes out of date.

    ``next_update`` is the soonest of the file's CRLs, ``next_update_of`` the CA whose CRL
    that is: when it passes, OpenSSL refuses that CA's kiosks (not another CA's).
    """

    revoked: frozenset[int]
    seen: tuple[int, int, int]
    next_update: dt.datetime | None = None
    next_update_of: str | None = None


def _seen(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def load(path: Path, client_ca: Path, now: dt.datetime | None = None) -> LoadedCrl:
    """Every CRL in ``path``, each checked against the CAs of ``client_ca`` and in date.

    A CRL past its next update is refused: OpenSSL would refuse every kiosk of that CA
    with it, so the previous CRL stays (or the service does not start) and the log says
    to refresh the file; one within :data:`STALE_WARNING` of it is warned about.
    """
    now = now or dt.datetime.now(dt.UTC)
    try:
        seen = _seen(path)
        data = path.read_bytes()
        authorities = x509.load_pem_x509_certificates(client_ca.read_bytes())
    except (OSError, ValueError) as error:
        raise CrlError(f"cannot read {path}: {error}") from None
    blocks = _BLOCK.findall(data)
    if not blocks:
        raise CrlError(f"{path} holds no PEM CRL")
    revoked: set[int] = set()
    next_updates: list[tuple[dt.datetime, str]] = []
    for block in blocks:
        try:
            crl = x509.load_pem_x509_crl(block)
        except ValueError as error:
            raise CrlError(f"{path}: a CRL cannot be read ({error})") from None
        issuer = next((ca for ca in authorities if ca.subject == crl.issuer), None)
        if issuer is None or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            raise CrlError(f"{path}: a CRL is not signed by a CA of the client CA file")
        expires = crl.next_update_utc
        if expires is not None and expires <= now:
            raise CrlError(
                f"{path}: the CRL of {crl.issuer.rfc4514_string()} is out of date since"
                f" {expires:%Y-%m-%d %H:%M} UTC: refresh the file (kiosk-fleet crl --out)"
            )
        if expires is not None and expires - now < STALE_WARNING:
            log.warning("%s: the CRL is out of date at %s UTC: refresh the file", path, expires)
        if expires is not None:
            next_updates.append((expires, crl.issuer.rfc4514_string()))
        revoked.update(entry.serial_number for entry in crl)
    soonest = min(next_updates, default=(None, None))
    return LoadedCrl(frozenset(revoked), seen, *soonest)


def staleness(loaded: LoadedCrl, now: dt.datetime) -> tuple[int, str] | None:
    """What the operator must hear about the CRL in use (log level, words); None while fresh.

    Why: the CRL in use goes out of date while the file stays the same, and from that
    moment OpenSSL refuses every kiosk, so unlocks stop; the service says so beforehand
    and while it lasts, as loading a file only says it once.
    """
    expires, ca = loaded.next_update, loaded.next_update_of
    if expires is None:
        return None
    if expires <= now:
        return logging.ERROR, (
            f"the kiosks' CRL of {ca} in use is out of date since {expires:%Y-%m-%d %H:%M} UTC:"
            f" every kiosk of {ca} is refused until the file is refreshed (kiosk-fleet crl --out)"
        )
    if expires - now < STALE_WARNING:
        return logging.WARNING, (
            f"the kiosks' CRL of {ca} in use is out of date at {expires:%Y-%m-%d %H:%M} UTC,"
            f" when every kiosk of {ca} will be refused: refresh the file (kiosk-fleet crl --out)"
        )
    return None


class Reminder:
    """Says a message when it is new, and again every ``every`` seconds while it lasts."""

    def __init__(self, every: float = REMIND_EVERY) -> None:
        self.every = every
        self._said: str | None = None
        self._at = 0.0

    def due(self, message: str | None, clock: float) -> bool:
        """Whether to say ``message`` now (``clock``: a monotonic time in seconds)."""
        if message is None:
            self._said = None
            return False
        if message != self._said or clock - self._at >= self.every:
            self._said, self._at = message, clock
            return True
        return False


def changed(path: Path, loaded: LoadedCrl) -> bool:
    """Whether the file is no longer the one loaded (replaced, touched, resized)."""
    try:
        return _seen(path) != loaded.seen
    except OSError:
        return False  # gone for a moment (being replaced): look again next time
