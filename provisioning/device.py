"""The device's provisioning state, and enrolling, renewing and decommissioning it.

Everything the tool writes lives in one state folder (default ``/var/lib/siths-kiosk``)
plus ``kiosk.toml``; decommissioning removes exactly those files. The functions here
do the work and return what happened; :mod:`provisioning.cli` says it in words.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from protocol import enrolment as en
from protocol.times import format_utc
from provisioning import kiosk_file
from provisioning.fleet_client import FleetClient, FleetRefused, fetch_pinned_ca
from provisioning.keystore import FileKeyStore, KeyStore
from provisioning.ownership import overwrite_and_remove, replace_file

DEFAULT_STATE = Path("/var/lib/siths-kiosk")
DEFAULT_CONFIG = Path("/etc/siths-kiosk/kiosk.toml")
#: ``renew`` renews when fewer days than this are left (or when forced).
RENEW_DAYS = 30


class ProvisioningError(Exception):
    """What stops a command, in the technician's words (with what to do)."""


@dataclass(frozen=True)
class Layout:
    """Where the files are."""

    state: Path
    config: Path

    def file(self, name: str) -> Path:
        """A file in the state folder."""
        return self.state / name

    @property
    def keystore(self) -> KeyStore:
        """The device key's store."""
        return FileKeyStore(self.file("device.key"))

    @property
    def certificate(self) -> Path:
        """The device certificate."""
        return self.file("device.pem")

    @property
    def owned(self) -> list[Path]:
        """Every file the tool writes in the state folder (the key is the key store's)."""
        names = [
            "device.pem",
            "device-ca.pem",
            "cardservice-ca.pem",
            "broker-ca.pem",
            "siths-trust.pem",
            "card-hash.key",
            "fleet-ca.pem",
            "fleet.json",
            "setup.json",
        ]
        return [self.file(name) for name in names]


def write_file(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    """Replace ``path`` atomically with ``text`` at ``mode`` (see :mod:`provisioning.ownership`)."""
    replace_file(path, text.encode() if isinstance(text, str) else text, mode)


def _json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remember_place(layout: Layout, site: str | None, location: str | None) -> str:
    """``configure``: into kiosk.toml when enrolled, else kept for the enrolment."""
    if layout.config.is_file():
        kiosk_file.set_place(layout.config, site=site, location=location)
        return f"{layout.config} updated"
    setup = _json_file(layout.file("setup.json"))
    setup.update({k: v for k, v in (("site", site), ("location", location)) if v is not None})
    write_file(layout.file("setup.json"), json.dumps(setup))
    return "kept for the enrolment (not enrolled yet)"


def _certificate(layout: Layout) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(layout.certificate.read_bytes())
    except (OSError, ValueError):
        return None


def _name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def enrol(
    layout: Layout,
    token: en.EnrolmentToken,
    *,
    kiosk_id: str | None,
    location: str | None,
    site: str | None,
) -> en.EnrolResponse:
    """Fetch and pin the fleet's CA, make the key, send the CSR, write what comes back."""
    if layout.certificate.exists():
        existing = _certificate(layout)
        who = _name(existing) if existing else "unknown"
        raise ProvisioningError(
            f"this kiosk is already enrolled (as {who}); run kiosk-provision decommission first"
        )
    kiosk_id = kiosk_id or token.kiosk_id
    if kiosk_id is None:
        raise ProvisioningError("the token names no kiosk id: give one with --kiosk-id")
    if token.kiosk_id is not None and token.kiosk_id != kiosk_id:
        raise ProvisioningError(
            f"the token is for kiosk {token.kiosk_id!r}, not {kiosk_id!r}: use the right token"
        )
    if not en.valid_kiosk_id(kiosk_id):
        raise ProvisioningError("a kiosk id is 1 to 64 letters, digits, '.', '_' or '-'")
    kiosk_file.read(layout.config)  # a kiosk.toml it could not update fails before the token
    setup = _json_file(layout.file("setup.json"))
    ca_pem = fetch_pinned_ca(token.fleet, token.fleet_ca_sha256)
    write_file(layout.file("fleet-ca.pem"), ca_pem)
    store = layout.keystore
    if not store.exists():
        store.generate()
    request = en.EnrolRequest(
        token=token.token,
        kiosk_id=kiosk_id,
        csr=store.certificate_request(kiosk_id),
        location=location or setup.get("location"),
        site=site or setup.get("site"),
    )
    client = FleetClient(token.fleet, layout.file("fleet-ca.pem"))
    try:
        answer = client.enrol(request)
    finally:
        client.close()
    _install(layout, answer, token.fleet)
    return answer


def _install(layout: Layout, answer: en.EnrolResponse, fleet: str) -> None:
    certificate = x509.load_pem_x509_certificate(answer.certificate.encode())
    if certificate.public_key() != layout.keystore.public_key():
        raise ProvisioningError("the fleet's certificate is not for this device's key")
    config = answer.config
    write_file(layout.file("device-ca.pem"), answer.device_ca)
    write_file(layout.file("cardservice-ca.pem"), config.card_service.ca_pem)
    write_file(layout.file("broker-ca.pem"), config.broker.ca_pem)
    write_file(layout.file("siths-trust.pem"), config.card_trust_pem)
    write_file(layout.file("card-hash.key"), base64.b64decode(config.card_hash_key), 0o600)
    write_file(layout.file("fleet.json"), json.dumps({"fleet": fleet}))
    kiosk_file.write(
        layout.config,
        kiosk_file.Provisioned(
            kiosk_id=answer.kiosk_id,
            location=config.location,
            site=config.site,
            card_service_url=config.card_service.url,
            card_service_ca=layout.file("cardservice-ca.pem").resolve(),
            client_cert=layout.certificate.resolve(),
            client_key=layout.keystore.tls_key.resolve(),
            trust_anchors=(layout.file("siths-trust.pem").resolve(),),
            broker=config.broker.url,
            broker_ca=layout.file("broker-ca.pem").resolve(),
            card_hash_key_file=layout.file("card-hash.key").resolve(),
            outbox=layout.file("telemetry.sqlite3").resolve(),
            outcome_outbox=layout.file("outcomes.sqlite3").resolve(),
            health_interval=config.health_interval,
        ),
    )
    # Last: the certificate says "enrolled" (to the tool and the first-boot unit). Cut off
    # before it, the same token and key get the same certificate again (the fleet keeps it).
    write_file(layout.certificate, answer.certificate)
    layout.file("setup.json").unlink(missing_ok=True)


def _enrolled(layout: Layout) -> tuple[x509.Certificate, FleetClient]:
    certificate = _certificate(layout)
    fleet = _json_file(layout.file("fleet.json")).get("fleet")
    if certificate is None or not isinstance(fleet, str) or not layout.keystore.exists():
        raise ProvisioningError("this kiosk is not enrolled: run kiosk-provision enrol first")
    client = FleetClient(
        fleet, layout.file("fleet-ca.pem"), (layout.certificate, layout.keystore.tls_key)
    )
    return certificate, client


def days_left(certificate: x509.Certificate, now: dt.datetime) -> float:
    """Days until the certificate expires."""
    return (certificate.not_valid_after_utc - now).total_seconds() / 86400


def renew(layout: Layout, now: dt.datetime, *, force: bool) -> tuple[bool, float]:
    """A new certificate when fewer than :data:`RENEW_DAYS` are left; (renewed, days left)."""
    certificate, client = _enrolled(layout)
    left = days_left(certificate, now)
    if left >= RENEW_DAYS and not force:
        client.close()
        return False, left
    try:
        csr = layout.keystore.certificate_request(_name(certificate))
        answer = client.renew(en.RenewRequest(csr=csr))
    finally:
        client.close()
    fresh = x509.load_pem_x509_certificate(answer.certificate.encode())
    if fresh.public_key() != layout.keystore.public_key():
        raise ProvisioningError("the fleet's certificate is not for this device's key")
    write_file(layout.file("device-ca.pem"), answer.device_ca)
    write_file(layout.certificate, answer.certificate)
    return True, days_left(fresh, now)


def decommission(layout: Layout) -> str:
    """Revoke at the fleet, then wipe the key, the files and kiosk.toml."""
    _certificate_now, client = _enrolled(layout)
    try:
        client.decommission()
        said = "the fleet revoked the certificate"
    except FleetRefused as refused:
        if refused.code != en.EnrolProblem.CERTIFICATE_REVOKED:
            raise
        said = "the certificate was already revoked"
    finally:
        client.close()
    wipe(layout)
    return said


#: The kiosk's telemetry outbox where enrolment put it: it holds past unlocks' card hashes.
TELEMETRY_FILES = ("telemetry.sqlite3", "telemetry.sqlite3-wal", "telemetry.sqlite3-shm")


def wipe(layout: Layout) -> None:
    """Remove the key, every file the tool wrote, the telemetry outbox, and kiosk.toml."""
    layout.keystore.wipe()
    for path in layout.owned:
        overwrite_and_remove(path)  # the card-hash key is the site's secret
    for name in TELEMETRY_FILES:
        layout.file(name).unlink(missing_ok=True)
    kiosk_file.remove(layout.config)


def status(layout: Layout, now: dt.datetime) -> dict[str, Any]:
    """What the tool knows about this device (for ``status``)."""
    certificate = _certificate(layout)
    kiosk_id, site, location = kiosk_file.place(layout.config)
    key = layout.keystore.tls_key
    key_mode = key.stat().st_mode & 0o777 if key.exists() else None
    found: dict[str, Any] = {
        "enrolled": certificate is not None,
        "kioskId": kiosk_id,
        "site": site,
        "location": location,
        "fleet": _json_file(layout.file("fleet.json")).get("fleet"),
        "config": str(layout.config),
        "key": str(key),
        "keyPresent": key_mode is not None,
        "keyPrivate": key_mode is not None and key_mode & 0o077 == 0,
    }
    if certificate is not None:
        left = days_left(certificate, now)
        found.update(
            certificateName=_name(certificate),
            certificateExpires=format_utc(certificate.not_valid_after_utc),
            daysLeft=int(left),
            renewDue=left < RENEW_DAYS,
        )
    return found
