"""The admin-key unblock cryptogram: AES-CMAC of the card's challenge.

Cards whose PUK the kiosk may not see are unblocked by the card-management
system instead: the card issues a random challenge (GET CHALLENGE), the
system computes this cryptogram with the card's administration key, the
kiosk hands it to the card (EXTERNAL AUTHENTICATE) and may then set a new
PIN (RESET RETRY COUNTER, P1=02). Real card vendors each have their own
algorithm; this one is the reference the virtual SITHS card and the reference
card service share. A cryptogram fits one challenge only, and the card forgets
the challenge when it loses power (leaves the reader) or after one attempt.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms

ADMIN_KEY_LENGTH = 16
CHALLENGE_LENGTH = 16


def admin_cryptogram(admin_key: bytes, challenge: bytes) -> bytes:
    """AES-CMAC(admin_key, challenge): 16 bytes."""
    if len(admin_key) not in (16, 24, 32):
        raise ValueError("the administration key must be an AES key")
    mac = cmac.CMAC(algorithms.AES(admin_key))
    mac.update(challenge)
    return mac.finalize()
