"""The device identity's key, behind an interface a TPM or secure element can implement.

The key is made on the device and never leaves it: the fleet only ever sees a
certificate request signed with it. :class:`FileKeyStore` keeps a P-256 key in one
file readable by its owner only (0600, created so, never widened); TLS libraries
(requests, paho) read that file. A hardware store would hand out a PKCS#11 URI or an
engine key instead of a path.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from provisioning.ownership import hand_over, overwrite_and_remove


class KeyStore(ABC):
    """Where the device key lives: generate it, show its public half, sign, wipe."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether a key is there."""

    @abstractmethod
    def generate(self) -> None:
        """Make a new key (replacing none: call :meth:`wipe` first)."""

    @abstractmethod
    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The key's public half."""

    @abstractmethod
    def certificate_request(self, kiosk_id: str) -> str:
        """A PEM PKCS#10 request naming ``kiosk_id``, signed by the key."""

    @abstractmethod
    def wipe(self) -> None:
        """Destroy the key (decommissioning)."""

    @property
    @abstractmethod
    def tls_key(self) -> Path:
        """What TLS clients load the key from."""


class FileKeyStore(KeyStore):
    """A P-256 key in a PEM file, 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def tls_key(self) -> Path:
        """The key file."""
        return self.path

    def exists(self) -> bool:
        """Whether the file is there."""
        return self.path.is_file()

    def generate(self) -> None:
        """A new P-256 key, written 0600 from the first byte."""
        if self.path.exists():
            raise FileExistsError(f"{self.path} already holds a device key")
        key = ec.generate_private_key(ec.SECP256R1())
        data = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:  # O_EXCL: never through a planted link
            hand_over(file.fileno(), self.path.parent)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())

    def _key(self) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{self.path} is not an EC key")
        return key

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The public half."""
        return self._key().public_key()

    def certificate_request(self, kiosk_id: str) -> str:
        """A CSR with only the common name ``kiosk_id``."""
        request = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kiosk_id)]))
            .sign(self._key(), hashes.SHA256())
        )
        return request.public_bytes(serialization.Encoding.PEM).decode()

    def wipe(self) -> None:
        """Overwrite, then remove the file (a flash card may keep copies; the CA revoked it)."""
        overwrite_and_remove(self.path)
