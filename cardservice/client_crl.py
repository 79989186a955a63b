"""The kiosks' CRL: loaded at start, reloaded when the file changes, enforced at once.

The fleet publishes the device CA's CRL (``kiosk-fleet crl --out FILE``, or
``GET /v1/crl``); ``kiosk-cardservice serve --client-crl FILE`` points here. The
file is looked at every :data:`CHECK_INTERVAL` seconds; when it changed and holds
valid CRLs (each signed by a CA of ``--client-ca``), new TLS handshakes verify against
it (OpenSSL's leaf CRL check) and open connections of revoked certificates are
dropped. So a revoked kiosk is refused within that interval of the file's change.
A file that cannot be read or does not verify is logged and the previous CRL stays.
With several CAs (a rotation) each CA has its own CRL: a stale one in the file keeps
that CA's CRL in use, and the other CAs' revocations still hold at once.
A CRL in use that comes close to its next update, or passes it, is told in the log
(:func:`staleness`) when that starts and every hour while it lasts.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

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
class IssuerCrl:
    """The CRL in use for one CA: its PEM, when it goes out of date, what it revokes."""

    issuer: str
    pem: bytes
    next_update: dt.datetime | None
    revoked: frozenset[int]


@dataclass(frozen=True)
class LoadedCrl:
    """The CRL in use for each CA, and the file's signature when it was read."""

    crls: tuple[IssuerCrl, ...]
    seen: tuple[int, int, int]

    @property
    def revoked(self) -> frozenset[int]:
        """Every revoked serial number, of every CA."""
        return frozenset().union(*(crl.revoked for crl in self.crls))

    @property
    def pem(self) -> bytes:
        """What OpenSSL is given: one CRL per CA."""
        return b"".join(crl.pem for crl in self.crls)

    def _soonest(self) -> IssuerCrl | None:
        dated = [crl for crl in self.crls if crl.next_update is not None]
        return min(dated, key=lambda crl: crl.next_update, default=None)  # type: ignore[arg-type,return-value]

    @property
    def next_update(self) -> dt.datetime | None:
        """When the first CA's CRL goes out of date (OpenSSL then refuses that CA's kiosks)."""
        soonest = self._soonest()
        return soonest.next_update if soonest else None

    @property
    def next_update_of(self) -> str | None:
        """The CA whose CRL goes out of date first."""
        soonest = self._soonest()
        return soonest.issuer if soonest else None


def _seen(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _newest_per_ca(
    path: Path, data: bytes, client_ca: Path
) -> dict[str, x509.CertificateRevocationList]:
    """The file's CRLs, each verified against its CA, the newest of each CA."""
    try:
        authorities = x509.load_pem_x509_certificates(client_ca.read_bytes())
    except (OSError, ValueError) as error:
        raise CrlError(f"cannot read {client_ca}: {error}") from None
    blocks = _BLOCK.findall(data)
    if not blocks:
        raise CrlError(f"{path} holds no PEM CRL")
    newest: dict[str, x509.CertificateRevocationList] = {}
    for block in blocks:
        try:
            crl = x509.load_pem_x509_crl(block)
        except ValueError as error:
            raise CrlError(f"{path}: a CRL cannot be read ({error})") from None
        issuer = next((ca for ca in authorities if ca.subject == crl.issuer), None)
        if issuer is None or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            raise CrlError(f"{path}: a CRL is not signed by a CA of the client CA file")
        name = crl.issuer.rfc4514_string()
        if name not in newest or crl.last_update_utc > newest[name].last_update_utc:
            newest[name] = crl
    return newest


def load(
    path: Path,
    client_ca: Path,
    now: dt.datetime | None = None,
    in_use: LoadedCrl | None = None,
) -> LoadedCrl:
    """The CRL to use for each CA in ``path``, each checked against the CAs of ``client_ca``.

    The newest CRL of each CA is used. One past its next update makes OpenSSL refuse
    every kiosk of that CA, so the CRL in use for that CA (``in_use``) stays while it is
    still in date, and the error says to refresh the file; the other CAs' CRLs are used
    all the same, so their revocations hold at once. At start (nothing in use) such a
    file is refused, with the same words. A CRL within :data:`STALE_WARNING` of its next
    update is warned about.
    """
    now = now or dt.datetime.now(dt.UTC)
    try:
        seen = _seen(path)
        data = path.read_bytes()
    except OSError as error:
        raise CrlError(f"cannot read {path}: {error}") from None
    kept = {crl.issuer: crl for crl in (in_use.crls if in_use else ())}
    chosen: list[IssuerCrl] = []
    for name, crl in _newest_per_ca(path, data, client_ca).items():
        expires = crl.next_update_utc
        if expires is not None and expires <= now:
            stale = (
                f"{path}: the CRL of {name} is out of date since {expires:%Y-%m-%d %H:%M} UTC:"
                " refresh the file (kiosk-fleet crl --out)"
            )
            old = kept.get(name)
            if old is not None and (old.next_update is None or old.next_update > now):
                log.error("%s; the one in use for that CA stays", stale)
                chosen.append(old)
                continue
            if in_use is None:
                raise CrlError(stale)
            log.error("%s; every kiosk of %s is refused until then", stale, name)
        elif expires is not None and expires - now < STALE_WARNING:
            log.warning(
                "%s: the CRL of %s is out of date at %s UTC: refresh the file", path, name, expires
            )
        pem = crl.public_bytes(serialization.Encoding.PEM)
        revoked = frozenset(entry.serial_number for entry in crl)
        chosen.append(IssuerCrl(name, pem, expires, revoked))
    return LoadedCrl(tuple(chosen), seen)


@contextmanager
def crl_file(loaded: LoadedCrl) -> Iterator[Path]:
    """The CRLs in use as a file for OpenSSL (private, deleted after), which reads only files."""
    with tempfile.TemporaryDirectory(prefix="kiosk-crl-") as folder:
        path = Path(folder) / "kiosks.crl"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(loaded.pem)
        yield path


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
