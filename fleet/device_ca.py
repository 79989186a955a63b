"""The kiosks' device CA: its files, checking certificate requests, signing, the CRL.

The CA's key lives in the fleet's state folder, 0600 (``kiosk-fleet ca init`` makes it,
or takes an existing CA's certificate and key). Everything here is a pure function of
the CA and its inputs; the database (who was issued what, who is revoked) is
:mod:`fleet.enrolment`'s.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT_NAME = "device-ca.pem"
CA_KEY_NAME = "device-ca.key"
#: Days a device certificate is valid; the kiosk renews when fewer than 30 are left.
CERTIFICATE_DAYS = 365
#: Days a CRL is valid: whoever loads it must fetch a fresh one well within this.
CRL_DAYS = 7


class CsrInvalid(ValueError):
    """The certificate request cannot be signed (the message says why)."""


class CaMissing(OSError):
    """No device CA in the state folder."""


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a file only its owner can read, created so from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    path.chmod(0o600)


@dataclass(frozen=True)
class DeviceCa:
    """The CA certificate and its key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        """The CA certificate (PEM), as kiosks, the broker and the card service need it."""
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @classmethod
    def load(cls, state_dir: Path) -> DeviceCa:
        """The CA in ``state_dir``; :class:`CaMissing` when there is none."""
        cert_file, key_file = state_dir / CA_CERT_NAME, state_dir / CA_KEY_NAME
        if not cert_file.is_file() or not key_file.is_file():
            raise CaMissing(
                f"no device CA in {state_dir} (make one with: kiosk-fleet ca init"
                f" --state-dir {state_dir})"
            )
        return cls.from_pem(cert_file.read_bytes(), key_file.read_bytes())

    @classmethod
    def from_pem(cls, certificate: bytes, key: bytes) -> DeviceCa:
        """A CA from PEM files (an existing CA given to ``ca init``); checks the pair."""
        cert = x509.load_pem_x509_certificate(certificate)
        private = serialization.load_pem_private_key(key, password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise ValueError("the CA key must be an EC key")
        if private.public_key().public_numbers() != cert.public_key().public_numbers():
            raise ValueError("the CA key does not belong to the CA certificate")
        return cls(cert, private)

    @classmethod
    def create(cls, name: str, now: dt.datetime, years: int = 20) -> DeviceCa:
        """A new self-signed P-256 CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    def save(self, state_dir: Path) -> None:
        """Write the certificate and the key (0600) into ``state_dir``; never overwrite."""
        cert_file, key_file = state_dir / CA_CERT_NAME, state_dir / CA_KEY_NAME
        if cert_file.exists() or key_file.exists():
            raise FileExistsError(f"{state_dir} already has a device CA; it was left as it is")
        key = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(key_file, key)
        cert_file.write_text(self.pem)

    def sign(self, request: x509.CertificateSigningRequest, now: dt.datetime) -> x509.Certificate:
        """A client certificate for a checked request (CN = the kiosk id, clientAuth)."""
        return (
            x509.CertificateBuilder()
            .subject_name(request.subject)
            .issuer_name(self.certificate.subject)
            .public_key(request.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CERTIFICATE_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
            .sign(self.key, hashes.SHA256())
        )

    def crl(self, revoked: list[tuple[int, dt.datetime]], now: dt.datetime, number: int) -> str:
        """The CRL (PEM) listing ``revoked`` (serial, when), valid for :data:`CRL_DAYS`."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + dt.timedelta(days=CRL_DAYS))
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
        )
        for serial, at in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(at).build()
            )
        crl = builder.sign(self.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.PEM).decode()


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def common_name(name: x509.Name) -> str | None:
    """The name's common name, if it has exactly one."""
    names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if len(names) == 1 else None


def checked_request(pem: str, kiosk_id: str) -> x509.CertificateSigningRequest:
    """The CSR, if it is signed by its own P-256 key and names exactly ``kiosk_id``."""
    try:
        request = x509.load_pem_x509_csr(pem.encode())
    except ValueError:
        raise CsrInvalid("the CSR is not a PEM PKCS#10 request") from None
    key = request.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise CsrInvalid("the CSR's key is not a P-256 key")
    if not request.is_signature_valid:
        raise CsrInvalid("the CSR is not signed by the key it carries")
    name = common_name(request.subject)
    if name != kiosk_id or len(request.subject) != 1:
        raise CsrInvalid(f"the CSR must name only the kiosk id {kiosk_id!r} (common name)")
    return request
