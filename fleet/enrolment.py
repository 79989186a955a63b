"""Enrolment on the fleet: tokens, issuing, renewing and revoking device certificates, the CRL.

The database holds the truth (tokens by hash only, every certificate issued, every
revocation), so any fleet instance can answer any request. A token is spent by one
conditional ``UPDATE ... WHERE used_at IS NULL`` in the transaction that records the
certificate: of two enrolments racing with one token, the database lets exactly one
through (SQLite's write lock, PostgreSQL's row lock and re-check).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection, RowMapping, select, text, update

from fleet import schema
from fleet.device_ca import CsrInvalid, DeviceCa, checked_request, common_name
from fleet.store import Store
from protocol import enrolment as en
from protocol.times import format_utc


class Refused(Exception):
    """A refusal with its stable code; the message is the detail for the technician."""

    def __init__(self, code: en.EnrolProblem, detail: str | None = None) -> None:
        super().__init__(detail or en.PROBLEMS[code].title)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class SiteSettings:
    """What every enrolled kiosk is told (the same services for the whole fleet)."""

    card_service_url: str
    card_service_ca_pem: str
    broker_url: str
    broker_ca_pem: str
    card_trust_pem: str
    card_hash_key: bytes
    health_interval: float = 60.0


@dataclass(frozen=True)
class IssuedToken:
    """A token just made: its public id and the token itself (the secret is shown once)."""

    id: str
    token: en.EnrolmentToken


def token_hash(secret: str) -> str:
    """What the database keeps of a token's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _moment(at: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(at, dt.UTC)


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


class Enrolment:
    """The enrolment operations on one store and one device CA."""

    def __init__(self, store: Store, ca: DeviceCa) -> None:
        self.store = store
        self.ca = ca

    # Tokens ------------------------------------------------------------------------------

    def create_token(
        self,
        *,
        fleet_url: str,
        fleet_ca_pem: str,
        site: str,
        valid_seconds: float,
        now: float,
        kiosk_id: str | None = None,
        location: str | None = None,
    ) -> IssuedToken:
        """A new one-time token for ``site`` (and only ``kiosk_id``, when given)."""
        secret = base64.urlsafe_b64encode(secrets.token_bytes(en.TOKEN_SECRET_BYTES))
        token = en.EnrolmentToken(
            fleet=fleet_url.rstrip("/"),
            token=secret.decode().rstrip("="),
            fleet_ca_sha256=en.ca_sha256(fleet_ca_pem),
            site=site,
            kiosk_id=kiosk_id,
            expires=_moment(now + valid_seconds).replace(microsecond=0),
        )
        public_id = secrets.token_hex(4)
        with self.store.transaction() as db:
            db.execute(
                schema.enrol_tokens.insert().values(
                    id=public_id,
                    token_hash=token_hash(token.token),
                    site=site,
                    kiosk_id=kiosk_id,
                    location=location,
                    created=now,
                    expires=token.expires.timestamp(),
                )
            )
        return IssuedToken(public_id, token)

    def tokens(self, now: float) -> list[dict[str, Any]]:
        """Every token with its state (usable, used, expired, revoked), newest first."""
        t = schema.enrol_tokens
        with self.store.reading() as db:
            rows = db.execute(select(t).order_by(t.c.created.desc())).mappings().all()
        found = []
        for row in rows:
            state = "usable"
            if row["revoked_at"] is not None:
                state = "revoked"
            elif row["used_at"] is not None:
                state = f"used by {row['used_by']}"
            elif row["expires"] <= now:
                state = "expired"
            found.append(
                {
                    "id": row["id"],
                    "site": row["site"],
                    "kioskId": row["kiosk_id"],
                    "location": row["location"],
                    "expires": format_utc(_moment(row["expires"])),
                    "state": state,
                }
            )
        return found

    def revoke_token(self, public_id: str, now: float) -> bool:
        """Make an unused token unusable; whether there was one."""
        t = schema.enrol_tokens
        with self.store.transaction() as db:
            done = db.execute(
                update(t)
                .where(t.c.id == public_id, t.c.used_at.is_(None), t.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return done.rowcount == 1

    # Enrolment ---------------------------------------------------------------------------

    def enrol(self, request: en.EnrolRequest, site: SiteSettings, now: float) -> en.EnrolResponse:
        """Spend the token, sign the CSR; :class:`Refused` says why not."""
        t = schema.enrol_tokens
        hashed = token_hash(request.token)
        with self.store.transaction() as db:
            row = db.execute(select(t).where(t.c.token_hash == hashed)).mappings().first()
            again = self._answered_before(db, row, request) if row is not None else None
            if again is not None:  # its answer was lost on the way: the same answer again
                certificate = again
            elif row is None or row["used_at"] is not None or row["revoked_at"] is not None:
                raise Refused(en.EnrolProblem.TOKEN_USED)
            else:
                certificate = self._spend_and_issue(db, row, request, hashed, now)
        location = request.location or row["location"] or ""
        return en.EnrolResponse(
            kiosk_id=request.kiosk_id,
            certificate=_pem(certificate),
            device_ca=self.ca.pem,
            config=en.SiteConfig(
                site=row["site"],
                location=location,
                card_service=en.Endpoint(
                    url=site.card_service_url, ca_pem=site.card_service_ca_pem
                ),
                broker=en.Endpoint(url=site.broker_url, ca_pem=site.broker_ca_pem),
                card_trust_pem=site.card_trust_pem,
                card_hash_key=base64.b64encode(site.card_hash_key).decode(),
                health_interval=site.health_interval,
            ),
        )

    def _spend_and_issue(
        self,
        db: Connection,
        row: RowMapping,
        request: en.EnrolRequest,
        hashed: str,
        now: float,
    ) -> x509.Certificate:
        """Check the token against the request, spend it and sign the CSR (one transaction)."""
        t = schema.enrol_tokens
        if row["expires"] <= now:
            raise Refused(
                en.EnrolProblem.TOKEN_EXPIRED,
                f"the token expired at {format_utc(_moment(row['expires']))}",
            )
        if request.site is not None and request.site != row["site"]:
            raise Refused(
                en.EnrolProblem.TOKEN_MISMATCH,
                f"the token is for site {row['site']!r}, not {request.site!r}",
            )
        if row["kiosk_id"] is not None and row["kiosk_id"] != request.kiosk_id:
            raise Refused(
                en.EnrolProblem.TOKEN_MISMATCH,
                f"the token is for kiosk {row['kiosk_id']!r}, not {request.kiosk_id!r}",
            )
        try:
            csr = checked_request(request.csr, request.kiosk_id)
        except CsrInvalid as error:
            raise Refused(en.EnrolProblem.CSR_INVALID, str(error)) from None
        # Before the look for a valid certificate: another enrolment of this id under
        # way has committed (or given up), so two tokens cannot both enrol one id.
        _hold_kiosk(db, request.kiosk_id)
        if self._active(db, request.kiosk_id, now):
            raise Refused(
                en.EnrolProblem.KIOSK_EXISTS,
                f"kiosk {request.kiosk_id!r} already has a valid certificate",
            )
        spent = db.execute(
            update(t)
            .where(t.c.token_hash == hashed, t.c.used_at.is_(None), t.c.revoked_at.is_(None))
            .values(used_at=now, used_by=request.kiosk_id)
        )
        if spent.rowcount != 1:  # another enrolment spent it first
            raise Refused(en.EnrolProblem.TOKEN_USED)
        return self._issue(db, csr, request.kiosk_id, now)

    def _answered_before(
        self, db: Connection, row: RowMapping, request: en.EnrolRequest
    ) -> x509.Certificate | None:
        """The certificate this token already gave this kiosk for this key, if still good.

        The token is spent in the transaction that issues the certificate; when the answer
        is lost on the way (power, network), the kiosk asks again with the same token and
        key and gets the same certificate, instead of a spent token and a kiosk id taken.
        """
        if row["used_by"] != request.kiosk_id or row["revoked_at"] is not None:
            return None
        try:
            csr = checked_request(request.csr, request.kiosk_id)
        except CsrInvalid:
            return None
        c = schema.device_certificates
        issued = db.execute(
            select(c.c.pem)
            .where(c.c.kiosk_id == request.kiosk_id, c.c.issued_at == row["used_at"])
            .where(c.c.revoked_at.is_(None))
        ).first()
        if issued is None:
            return None
        certificate = x509.load_pem_x509_certificate(issued.pem.encode())
        return certificate if certificate.public_key() == csr.public_key() else None

    def renew(
        self, peer: x509.Certificate, request: en.RenewRequest, now: float
    ) -> en.RenewResponse:
        """A new certificate for the caller (same id); a revoked caller is refused."""
        kiosk_id = self._caller(peer)
        try:
            csr = checked_request(request.csr, kiosk_id)
        except CsrInvalid as error:
            raise Refused(en.EnrolProblem.CSR_INVALID, str(error)) from None
        with self.store.transaction() as db:
            _hold_kiosk(db, kiosk_id)
            self._not_revoked(db, peer)
            certificate = self._issue(db, csr, kiosk_id, now)
        return en.RenewResponse(certificate=_pem(certificate), device_ca=self.ca.pem)

    def decommission(self, peer: x509.Certificate, now: float) -> en.DecommissionResponse:
        """Revoke the caller's certificates (every unrevoked one of its kiosk id)."""
        kiosk_id = self._caller(peer)
        with self.store.transaction() as db:
            _hold_kiosk(db, kiosk_id)
            self._not_revoked(db, peer)
            self._revoke(db, kiosk_id, now, "decommissioned by the kiosk")
        return en.DecommissionResponse(revoked=True)

    def revoke_kiosk(self, kiosk_id: str, now: float, by: str) -> int:
        """Revoke every unrevoked certificate of ``kiosk_id``; how many there were."""
        with self.store.transaction() as db:
            _hold_kiosk(db, kiosk_id)
            return self._revoke(db, kiosk_id, now, by)

    def crl(self, now: float) -> str:
        """The current CRL (PEM): every revoked certificate not yet expired."""
        c = schema.device_certificates
        with self.store.reading() as db:
            rows = db.execute(
                select(c.c.serial, c.c.revoked_at).where(
                    c.c.revoked_at.is_not(None), c.c.not_after > now - 86400
                )
            ).all()
        revoked = [(int(serial, 16), _moment(at)) for serial, at in rows]
        return self.ca.crl(revoked, _moment(now), number=int(now))

    # Inside ------------------------------------------------------------------------------

    def _issue(
        self, db: Connection, csr: x509.CertificateSigningRequest, kiosk_id: str, now: float
    ) -> x509.Certificate:
        _hold_kiosk(db, kiosk_id)
        certificate = self.ca.sign(csr, _moment(now))
        db.execute(
            schema.device_certificates.insert().values(
                serial=format(certificate.serial_number, "x"),
                kiosk_id=kiosk_id,
                issued_at=now,
                not_after=certificate.not_valid_after_utc.timestamp(),
                pem=_pem(certificate),
            )
        )
        return certificate

    def _active(self, db: Connection, kiosk_id: str, now: float) -> bool:
        c = schema.device_certificates
        found = db.execute(
            select(c.c.serial).where(
                c.c.kiosk_id == kiosk_id, c.c.revoked_at.is_(None), c.c.not_after > now
            )
        ).first()
        return found is not None

    def _caller(self, peer: x509.Certificate) -> str:
        kiosk_id = common_name(peer.subject)
        if kiosk_id is None or not en.valid_kiosk_id(kiosk_id):
            raise Refused(en.EnrolProblem.CLIENT_CERTIFICATE_REQUIRED, "not a kiosk certificate")
        return kiosk_id

    def _not_revoked(self, db: Connection, peer: x509.Certificate) -> None:
        c = schema.device_certificates
        serial = format(peer.serial_number, "x")
        # Called under _hold_kiosk: a revocation of this kiosk under way has committed.
        row = db.execute(select(c.c.revoked_at).where(c.c.serial == serial)).first()
        if row is None:
            raise Refused(
                en.EnrolProblem.CERTIFICATE_REVOKED, "the fleet has no record of this certificate"
            )
        if row[0] is not None:
            raise Refused(
                en.EnrolProblem.CERTIFICATE_REVOKED,
                f"the certificate was revoked at {format_utc(_moment(row[0]))}",
            )

    def _revoke(self, db: Connection, kiosk_id: str, now: float, by: str) -> int:
        c = schema.device_certificates
        done = db.execute(
            update(c)
            .where(c.c.kiosk_id == kiosk_id, c.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_by=by)
        )
        return int(done.rowcount)


def _hold_kiosk(db: Connection, kiosk_id: str) -> None:
    """Take turns with every other issue or revocation for ``kiosk_id`` until this commits.

    Why: on PostgreSQL (read committed) a revocation's UPDATE does not see a certificate
    that a renewal inserted but has not committed yet, so without turns a kiosk revoked
    during its renewal would keep the new certificate. The transaction-scoped advisory
    lock makes the later of the two wait for the earlier and then see what it did.
    SQLite needs nothing: a writing transaction holds the whole database from BEGIN.
    """
    if db.dialect.name == "postgresql":
        db.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"fleet-device-certificates:{kiosk_id}"},
        )
