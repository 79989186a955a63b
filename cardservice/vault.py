"""Card secrets (PUK, administration key) encrypted at rest with AES-256-GCM.

The master key lives in a file of its own (created with mode 0600), never in
the database, so a copied database file reveals no PUK.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class VaultError(Exception):
    """A sealed value does not open with this master key (wrong key or tampered)."""


class Vault:
    """Seals and opens small secrets, bound to a context (the card number)."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._aead = AESGCM(master_key)

    @classmethod
    def from_file(cls, path: Path) -> Vault:
        """Load the master key, creating it (0600) on first use."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(os.urandom(32))
        return cls(path.read_bytes())

    def seal(self, secret: bytes, context: str) -> bytes:
        """Nonce || ciphertext."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, secret, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        """The secret; :class:`VaultError` if it does not open."""
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], context.encode())
        except (InvalidTag, ValueError):
            raise VaultError("a stored card secret does not open with the master key") from None
