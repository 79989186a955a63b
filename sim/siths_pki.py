"""A test SITHS PKI, made at run time: root CA, issuing CA, holder certificates.

Names follow the real SITHS e-id hierarchy with "TEST" added, so nobody can
mistake them for production. Nothing here is ever written to the repository;
tests, the demo and the reference card service generate their own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hw.siths.certificates import CARD_NUMBER_OID, PERSONAL_IDENTITY_NUMBER_OID, CertificateRole
from sim.x509_parts import key_usage

ROOT_NAME = "SITHS e-id Root CA v2 TEST"
ISSUING_NAME = "SITHS e-id Person ID 3 CA v1 TEST"
KEY_SIZE = 2048


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def new_key() -> rsa.RSAPrivateKey:
    """An RSA key of the size SITHS cards use."""
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


@dataclass(frozen=True)
class SithsHolder:
    """A made-up card holder: what the card service knows and the certificates say."""

    given_name: str = "Anna"
    surname: str = "Andersson"
    hsa_id: str = "SE2321000016-A1B2"
    personal_identity_number: str = "198507122389"
    card_number: str = "9752269885719985027"
    organisation: str = "Region Test"
    email: str = "anna.andersson@example.org"
    valid_from: dt.datetime = field(default_factory=lambda: _now() - dt.timedelta(days=1))
    valid_to: dt.datetime = field(default_factory=lambda: _now() + dt.timedelta(days=5 * 365))
    product_code: str = "SITHS-EID-CARD-3"

    @property
    def full_name(self) -> str:
        """Given name and surname."""
        return f"{self.given_name} {self.surname}"

    def expired(self) -> SithsHolder:
        """The same holder on a card that expired yesterday."""
        now = _now()
        return replace(
            self, valid_from=now - dt.timedelta(days=3 * 365), valid_to=now - dt.timedelta(days=1)
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Inera AB"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_certificate(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    years: int,
    path_length: int | None,
) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            key_usage("key_cert_sign", "crl_sign"),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class SithsTestPki:
    """Root and issuing CA with their keys."""

    root: x509.Certificate
    root_key: rsa.RSAPrivateKey
    issuing: x509.Certificate
    issuing_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, *, label: str = "") -> SithsTestPki:
        """A fresh PKI; ``label`` tells two PKIs apart (e.g. "OTHER" for an unknown CA)."""
        suffix = f" {label}" if label else ""
        root_key, issuing_key = new_key(), new_key()
        root_name = _name(ROOT_NAME + suffix)
        root = _ca_certificate(root_name, root_key, root_name, root_key, 20, 1)
        issuing_name = _name(ISSUING_NAME + suffix)
        issuing = _ca_certificate(issuing_name, issuing_key, root_name, root_key, 10, 0)
        return cls(root, root_key, issuing, issuing_key)

    def issue(
        self,
        holder: SithsHolder,
        role: CertificateRole,
        *,
        key: rsa.RSAPrivateKey | None = None,
        with_card_number: bool = True,
    ) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        """A holder certificate for the identification or the signature key."""
        key = key or new_key()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, holder.organisation),
                x509.NameAttribute(NameOID.GIVEN_NAME, holder.given_name),
                x509.NameAttribute(NameOID.SURNAME, holder.surname),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, holder.hsa_id),
                x509.NameAttribute(NameOID.COMMON_NAME, holder.full_name),
            ]
        )
        signature = role is CertificateRole.SIGNATURE
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.issuing.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(holder.valid_from)
            .not_valid_after(holder.valid_to)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                (
                    key_usage("content_commitment")
                    if signature
                    else key_usage("digital_signature", "key_encipherment")
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.RFC822Name(holder.email),
                        x509.OtherName(
                            PERSONAL_IDENTITY_NUMBER_OID,
                            core.UTF8String(holder.personal_identity_number).dump(),
                        ),
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.issuing_key.public_key()),
                critical=False,
            )
        )
        if not signature:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        if with_card_number:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(
                    CARD_NUMBER_OID, core.PrintableString(holder.card_number).dump()
                ),
                critical=False,
            )
        return builder.sign(self.issuing_key, hashes.SHA256()), key

    def anchors_pem(self) -> bytes:
        """The root certificate as PEM (what a kiosk is configured with)."""
        return self.root.public_bytes(serialization.Encoding.PEM)

    def intermediates_pem(self) -> bytes:
        """The issuing CA certificate as PEM."""
        return self.issuing.public_bytes(serialization.Encoding.PEM)
