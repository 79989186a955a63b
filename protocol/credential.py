"""The unlock credential envelope: ECDH-ES + HKDF-SHA256 + AES-256-GCM (pyca ``cryptography``).

The kiosk makes an :class:`UnlockKey` for one unlock, sends its public half,
and opens the envelope the card service made with :func:`seal` exactly once;
the private key is dropped after that. The additional data binds the
credential to the unlock, the card, the login and its expiry.
"""

from __future__ import annotations

import base64
import datetime as dt
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ALGORITHM = "ECDH-ES+HKDF-SHA256+A256GCM"
INFO_PREFIX = b"siths-kiosk-unlock-v1|"


class EnvelopeError(Exception):
    """The envelope cannot be opened: wrong key, tampered, expired, used, or malformed."""


def b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: object, what: str) -> bytes:
    """Decode base64 text; a malformed value raises :class:`ValueError` naming the field."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError(f"{what} is not valid base64") from None


def associated_data(unlock_id: str, card_number: str, order_ref: str, expires_at: str) -> bytes:
    """What the envelope is bound to."""
    return f"{unlock_id}|{card_number}|{order_ref}|{expires_at}".encode()


def _derive(shared: bytes, aad: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO_PREFIX + aad).derive(
        shared
    )


def public_key_from_b64(text: object) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from base64 DER SubjectPublicKeyInfo."""
    der = unb64(text, "public key")
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        raise ValueError("public key is not a DER SubjectPublicKeyInfo") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("public key must be a P-256 key")
    return key


def public_key_b64(key: ec.EllipticCurvePublicKey) -> str:
    """Base64 DER SubjectPublicKeyInfo."""
    return b64(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def seal(recipient: ec.EllipticCurvePublicKey, plaintext: bytes, aad: bytes) -> dict[str, str]:
    """Encrypt ``plaintext`` to the kiosk's one-time key (the card service side)."""
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    key = _derive(ephemeral.exchange(ec.ECDH(), recipient), aad)
    nonce = os.urandom(12)
    return {
        "alg": ALGORITHM,
        "ephemeralPublicKey": public_key_b64(ephemeral.public_key()),
        "nonce": b64(nonce),
        "ciphertext": b64(AESGCM(key).encrypt(nonce, plaintext, aad)),
    }


class UnlockKey:
    """A P-256 key pair for exactly one unlock, kept only in memory."""

    def __init__(self) -> None:
        self._private: ec.EllipticCurvePrivateKey | None = ec.generate_private_key(ec.SECP256R1())
        self.public_b64 = public_key_b64(self._private.public_key())

    @property
    def used(self) -> bool:
        """Whether the key has been used (or discarded) already."""
        return self._private is None

    def discard(self) -> None:
        """Forget the private key (on cancel, card removal, or after use)."""
        self._private = None

    def open(
        self,
        envelope: object,
        aad: bytes,
        *,
        expires_at: dt.datetime,
        now: dt.datetime | None = None,
    ) -> bytes:
        """Decrypt the envelope once; the key is gone afterwards, whatever happens."""
        private, self._private = self._private, None
        if private is None:
            raise EnvelopeError("this unlock key was already used")
        if (now or dt.datetime.now(dt.UTC)) >= expires_at:
            raise EnvelopeError("the unlock credential has expired")
        if not isinstance(envelope, dict) or envelope.get("alg") != ALGORITHM:
            raise EnvelopeError("the envelope is not of the expected kind")
        try:
            peer = public_key_from_b64(envelope.get("ephemeralPublicKey"))
            nonce = unb64(envelope.get("nonce"), "nonce")
            ciphertext = unb64(envelope.get("ciphertext"), "ciphertext")
            key = _derive(private.exchange(ec.ECDH(), peer), aad)
            return AESGCM(key).decrypt(nonce, ciphertext, aad)
        except (ValueError, InvalidTag):
            raise EnvelopeError("the envelope does not open with this unlock's key") from None
