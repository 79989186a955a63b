"""The unlock credential envelope: RFC 9180 HPKE, base mode, from pyca ``cryptography``.

The kiosk makes an :class:`UnlockKey` for one unlock and sends its public half;
the card service seals the PUK or cryptogram to it with :func:`seal`; the kiosk
opens it exactly once, and the private key is gone afterwards whatever happens.

Why HPKE: it is the standard construction of exactly this (a sender encrypting to
a recipient's public key), implemented and tested by pyca; this module only
chooses the suite and what the envelope is bound to, and builds no crypto of
its own.

- Suite: mode_base (0x00), KEM DHKEM(P-256, HKDF-SHA256) (0x0010), KDF HKDF-SHA256
  (0x0001), AEAD AES-256-GCM (0x0002); named ``HPKE-Base-P256-SHA256-A256GCM`` on the wire.
- Sealed bytes: ``enc || ciphertext`` as RFC 9180's single-shot API returns them:
  ``enc`` is the 65-byte uncompressed ephemeral P-256 point, ``ciphertext`` the
  AES-256-GCM output with its 16-byte tag. The AEAD's associated data is empty.
- ``info`` (see :meth:`EnvelopeBinding.info`) binds the envelope to the kiosk, the
  login, the card, the unlock and the expiry; a change to any of them and the
  envelope does not open.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from protocol.times import parse_rfc3339

ALGORITHM = "HPKE-Base-P256-SHA256-A256GCM"
SUITE = Suite(KEM.P256, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
#: Length of HPKE's ``enc`` for DHKEM(P-256): an uncompressed point.
ENC_LENGTH = KEM.P256.enc_length()
#: The first field of ``info``: names this use and its version.
INFO_LABEL = "siths-kiosk-unlock-v2"


class EnvelopeError(Exception):
    """The envelope cannot be opened: wrong key, tampered, expired, used, or malformed.

    Messages say which of these it is, never a key, a plaintext or a ciphertext.
    """


def b64(data: bytes) -> str:
    """Standard base64 text (with padding)."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: object, what: str) -> bytes:
    """Decode base64 text; a malformed value raises :class:`ValueError` naming the field."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError(f"{what} is not valid base64") from None


def _length_prefixed(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ValueError("an envelope binding field is longer than 65535 bytes")
    return len(data).to_bytes(2, "big") + data


@dataclass(frozen=True)
class EnvelopeBinding:
    """What one envelope is bound to: both sides compute ``info`` from these.

    ``kiosk_id`` is the common name of the kiosk's device certificate (the service
    reads it from the TLS peer certificate); ``expires_at`` is the unlock answer's
    ``expiresAt`` text exactly as sent, so neither side re-formats it.
    """

    kiosk_id: str
    order_ref: str
    card_number: str
    unlock_id: str
    expires_at: str

    def info(self) -> bytes:
        """HPKE ``info``: six length-prefixed UTF-8 fields, label first.

        ``lp(INFO_LABEL) || lp(kioskId) || lp(orderRef) || lp(cardNumber) ||
        lp(unlockId) || lp(expiresAt)`` where ``lp(s)`` is the 2-byte big-endian
        length of UTF-8 ``s`` followed by those bytes. Length prefixes make the
        encoding unambiguous whatever characters the fields hold.
        """
        fields = (
            INFO_LABEL,
            self.kiosk_id,
            self.order_ref,
            self.card_number,
            self.unlock_id,
            self.expires_at,
        )
        return b"".join(_length_prefixed(field) for field in fields)


def public_key_from_b64(text: object) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from base64 DER SubjectPublicKeyInfo (:class:`ValueError` if not)."""
    der = unb64(text, "public key")
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        raise ValueError("public key is not a DER SubjectPublicKeyInfo") from None
    return p256_public_key(key)


def p256_public_key(key: object) -> ec.EllipticCurvePublicKey:
    """``key`` if it is a P-256 public key (the suite's KEM takes no other), else ValueError."""
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("public key must be a P-256 key")
    return key


def public_key_b64(key: ec.EllipticCurvePublicKey) -> str:
    """Base64 DER SubjectPublicKeyInfo."""
    return b64(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def seal(recipient: ec.EllipticCurvePublicKey, plaintext: bytes, binding: EnvelopeBinding) -> bytes:
    """Encrypt ``plaintext`` to the kiosk's one-time key (the card service side): enc || ct."""
    return SUITE.encrypt(plaintext, p256_public_key(recipient), info=binding.info())


class UnlockKey:
    """A P-256 key pair for exactly one unlock, kept only in memory."""

    def __init__(self) -> None:
        self._private: ec.EllipticCurvePrivateKey | None = ec.generate_private_key(ec.SECP256R1())
        self.public_b64 = public_key_b64(self._private.public_key())

    def __repr__(self) -> str:
        return f"UnlockKey(used={self.used})"

    @property
    def used(self) -> bool:
        """Whether the key has been used (or discarded) already."""
        return self._private is None

    def discard(self) -> None:
        """Forget the private key (on cancel, card removal, or after use)."""
        self._private = None

    def open(
        self, sealed: bytes, binding: EnvelopeBinding, *, now: dt.datetime | None = None
    ) -> bytes:
        """Decrypt ``enc || ciphertext`` once; the key is gone afterwards, whatever happens.

        Refused (:class:`EnvelopeError`) when the key was used before, when
        ``binding.expires_at`` has passed or is not an RFC 3339 time, and when the
        envelope was not sealed to this key with exactly this binding.
        """
        private, self._private = self._private, None
        if private is None:
            raise EnvelopeError("this unlock key was already used")
        try:
            expires_at = parse_rfc3339(binding.expires_at)
        except ValueError:
            raise EnvelopeError("the unlock credential's expiry is not an RFC 3339 time") from None
        if (now or dt.datetime.now(dt.UTC)) >= expires_at:
            raise EnvelopeError("the unlock credential has expired")
        try:
            return SUITE.decrypt(sealed, private, info=binding.info())
        except (InvalidTag, ValueError, TypeError):
            raise EnvelopeError("the envelope does not open with this unlock's key") from None
