"""Development TLS certificates: card service, kiosks, simulated identity provider.

The service's server certificate and the kiosk device certificates each come
from their own test CA. The service CA also issues the card service's relying-party
client certificate; the simulated identity provider serves with the same localhost
server certificate and trusts the service CA for relying parties. They are made at run
time for the demo and the tests; production kiosks get their device certificates through enrolment.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sim.x509_parts import key_usage


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SITHS kiosk development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Authority:
    """A CA that signs leaf certificates."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, common_name: str) -> Authority:
        """A self-signed CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                key_usage("key_cert_sign", "crl_sign"),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    def issue(
        self, common_name: str, *, server: bool, days: int = 825
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A server (localhost) or client (kiosk id) certificate."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        x509.IPAddress(ipaddress.ip_address("::1")),
                    ]
                ),
                critical=False,
            )
        return builder.sign(self.key, hashes.SHA256()), key


@dataclass(frozen=True)
class DevPkiFiles:
    """Where :func:`write_dev_pki` put things."""

    directory: Path
    service_ca: Path
    service_cert: Path
    service_key: Path
    device_ca: Path
    #: The card service's client certificate as a relying party of the identity provider.
    rp_cert: Path
    rp_key: Path

    def kiosk_cert(self, kiosk_id: str) -> Path:
        """A kiosk's certificate file."""
        return self.directory / f"kiosk-{kiosk_id}.pem"

    def kiosk_key(self, kiosk_id: str) -> Path:
        """A kiosk's private key file."""
        return self.directory / f"kiosk-{kiosk_id}.key"


def write_dev_pki(directory: Path, kiosk_ids: list[str]) -> DevPkiFiles:
    """Make both CAs, the server certificate and one certificate per kiosk id."""
    directory.mkdir(parents=True, exist_ok=True)
    service_ca = Authority.create("Card service TEST CA")
    device_ca = Authority.create("Kiosk device TEST CA")
    files = DevPkiFiles(
        directory,
        directory / "service-ca.pem",
        directory / "service.pem",
        directory / "service.key",
        directory / "device-ca.pem",
        directory / "cardservice-rp.pem",
        directory / "cardservice-rp.key",
    )
    server_cert, server_key = service_ca.issue("localhost", server=True)
    files.service_ca.write_bytes(_pem(service_ca.certificate))
    files.device_ca.write_bytes(_pem(device_ca.certificate))
    files.service_cert.write_bytes(_pem(server_cert))
    _write_private(files.service_key, _pem_key(server_key))
    rp_cert, rp_key = service_ca.issue("cardservice-rp", server=False)
    files.rp_cert.write_bytes(_pem(rp_cert))
    _write_private(files.rp_key, _pem_key(rp_key))
    for kiosk_id in kiosk_ids:
        cert, key = device_ca.issue(kiosk_id, server=False)
        files.kiosk_cert(kiosk_id).write_bytes(_pem(cert))
        _write_private(files.kiosk_key(kiosk_id), _pem_key(key))
    return files


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)
