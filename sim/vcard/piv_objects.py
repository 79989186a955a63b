"""Data objects for a virtual PIV card: CHUID, discovery object, a holder certificate.

The certificate and its key are made fresh each time (never stored in the
repository); the key is thrown away, since the virtual card does not sign.
"""

from __future__ import annotations

import datetime as dt
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hw import tlv
from hw.piv import constants as c
from hw.piv.fascn import Fascn
from hw.piv.objects import Chuid, build_certificate_object, build_chuid
from sim.x509_parts import key_usage


def holder_certificate(name: str, organisation: str, valid_days: int = 365 * 3) -> bytes:
    """A self-signed PIV Authentication certificate (DER) for a made-up holder."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(
            key_usage("digital_signature"),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def discovery_object() -> bytes:
    """Discovery object content: the PIV AID and "PIV PIN only" usage policy."""
    return tlv.encode_all([(0x4F, c.PIV_AID), (0x5F2F, b"\x40\x00")])


def standard_objects(
    *,
    holder: str = "Test Holder",
    organisation: str = "Test Organisation",
    credential_number: str = "123456",
    with_certificate: bool = True,
    compress_certificate: bool = False,
    certificate_der: bytes | None = None,
) -> dict[int, bytes]:
    """The objects a freshly issued PIV card carries."""
    expires = dt.date.today() + dt.timedelta(days=365 * 3)
    chuid = Chuid(
        fascn=Fascn(agency_code="9999", system_code="9999", credential_number=credential_number),
        guid=uuid.uuid4(),
        expires=expires,
    )
    objects = {c.OBJ_CHUID: build_chuid(chuid), c.OBJ_DISCOVERY: discovery_object()}
    if with_certificate:
        der = certificate_der or holder_certificate(holder, organisation)
        objects[c.OBJ_AUTH_CERT] = build_certificate_object(der, compress=compress_certificate)
    return objects
