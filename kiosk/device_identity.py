"""Whether the kiosk's configured id is the one its device certificate names.

The card service knows a kiosk by its certificate's common name and binds each
credential to it; a kiosk whose ``[kiosk] id`` says otherwise would log the
holder in, spend one of the card's attempts, and then fail to open the
credential. So the kiosk checks before it serves, and says exactly what differs.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID


def identity_problem(kiosk_id: str, certificate_file: Path) -> str | None:
    """``None`` when the certificate's common name is ``kiosk_id``, else what is wrong."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_file.read_bytes())
    except FileNotFoundError:
        return f"no device certificate at {certificate_file}"
    except (OSError, ValueError) as error:
        return f"the device certificate {certificate_file} cannot be read ({error})"
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(names[0].value) if names else None
    if name != kiosk_id:
        return (
            f"kiosk.id is {kiosk_id!r} but the device certificate names {name!r};"
            " the card service knows the kiosk by its certificate"
        )
    return None
