"""What a SITHS holder certificate says, read with pyca ``cryptography``.

Pure functions over :class:`cryptography.x509.Certificate`: the holder's name,
HSA-ID (subject ``serialNumber``), organisation, card number (extension
1.2.752.34.2.1), personal identity number (subjectAltName otherName
1.2.752.29.4.13), validity, and whether the certificate is the card's
identification or signature certificate (by key usage).

``cryptography`` parses extensions lazily, so a certificate that loaded can
still fail on a duplicate or malformed extension: :func:`describe` turns any
such failure into :class:`~hw.errors.UnreadableCertificate`, and names and
numbers from the certificate are made safe to show (:func:`hw.card_text.shown`).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from asn1crypto import core
from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from hw.card_text import shown
from hw.errors import UnreadableCertificate

CARD_NUMBER_OID = x509.ObjectIdentifier("1.2.752.34.2.1")
PERSONAL_IDENTITY_NUMBER_OID = x509.ObjectIdentifier("1.2.752.29.4.13")


class CertificateRole(enum.Enum):
    """What the certificate's key is for."""

    IDENTIFICATION = "identification"
    SIGNATURE = "signature"
    OTHER = "other"


@dataclass(frozen=True)
class HolderCertificate:
    """The facts the kiosk shows and checks, from one certificate."""

    certificate: x509.Certificate
    role: CertificateRole
    holder_name: str | None
    hsa_id: str | None
    organisation: str | None
    card_number: str | None
    personal_identity_number: str | None
    valid_from: dt.datetime
    valid_to: dt.datetime


def _name_attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if not values:
        return None
    value = values[0].value
    return shown(value if isinstance(value, str) else value.decode("utf-8", "replace"))


def _decode_string(der: bytes) -> str | None:
    """A DER string (any string type), an INTEGER, or raw ASCII digits."""
    try:
        value = core.Asn1Value.load(der, strict=True)
        native = value.native
    except Exception:  # asn1crypto raises many types on garbage
        native = None
    if isinstance(native, str):
        return shown(native)
    if isinstance(native, int):
        return str(native)
    if isinstance(native, bytes):
        der = native
    try:
        text = der.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() and text else None


def card_number(certificate: x509.Certificate) -> str | None:
    """The card number printed on the card, from extension 1.2.752.34.2.1."""
    try:
        extension = certificate.extensions.get_extension_for_oid(CARD_NUMBER_OID)
    except x509.ExtensionNotFound:
        return None
    value = extension.value
    if isinstance(value, x509.UnrecognizedExtension):
        return _decode_string(value.value)
    return None


def personal_identity_number(certificate: x509.Certificate) -> str | None:
    """The Swedish personal identity number from subjectAltName, if present."""
    try:
        san = certificate.extensions.get_extension_for_oid(
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME
        ).value
    except x509.ExtensionNotFound:
        return None
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id == PERSONAL_IDENTITY_NUMBER_OID:
            return _decode_string(other.value)
    return None


def role(certificate: x509.Certificate) -> CertificateRole:
    """Signature if the key is for non-repudiation; identification if for digital signature."""
    try:
        usage = certificate.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    except x509.ExtensionNotFound:
        return CertificateRole.OTHER
    if usage.content_commitment:
        return CertificateRole.SIGNATURE
    if usage.digital_signature:
        return CertificateRole.IDENTIFICATION
    return CertificateRole.OTHER


def describe(certificate: x509.Certificate) -> HolderCertificate:
    """Everything the kiosk needs from one holder certificate; :class:`UnreadableCertificate`."""
    try:
        return _describe(certificate)
    except UnreadableCertificate:
        raise
    except Exception as error:  # cryptography raises many kinds on lazily parsed garbage
        raise UnreadableCertificate(
            f"a certificate on the card cannot be read ({type(error).__name__})"
        ) from None


def _describe(certificate: x509.Certificate) -> HolderCertificate:
    subject = certificate.subject
    name = _name_attribute(subject, NameOID.COMMON_NAME)
    if name is None:
        given = _name_attribute(subject, NameOID.GIVEN_NAME)
        surname = _name_attribute(subject, NameOID.SURNAME)
        name = " ".join(part for part in (given, surname) if part) or None
    return HolderCertificate(
        certificate=certificate,
        role=role(certificate),
        holder_name=name,
        hsa_id=_name_attribute(subject, NameOID.SERIAL_NUMBER),
        organisation=_name_attribute(subject, NameOID.ORGANIZATION_NAME),
        card_number=card_number(certificate),
        personal_identity_number=personal_identity_number(certificate),
        valid_from=certificate.not_valid_before_utc,
        valid_to=certificate.not_valid_after_utc,
    )
