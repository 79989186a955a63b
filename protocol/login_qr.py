"""The animated login QR content, as Swedish BankID draws it.

``<prefix>.<qrStartToken>.<t>.<hex HMAC-SHA256(qrStartSecret, str(t))>`` where
``t`` is the whole seconds since the login started. The kiosk redraws it every
second; the card service recomputes it to check a scanned frame, so both use
this one function.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field

DEFAULT_PREFIX = "mobiltsiths"
_ASCII_DIGITS = re.compile(r"[0-9]{1,12}")


def qr_content(prefix: str, token: str, secret: str, seconds: int) -> str:
    """The QR content for second ``seconds`` of a login."""
    if seconds < 0:
        raise ValueError("seconds since the login started cannot be negative")
    digest = hmac.new(secret.encode(), str(seconds).encode(), hashlib.sha256).hexdigest()
    return f"{prefix}.{token}.{seconds}.{digest}"


@dataclass(frozen=True)
class QrFrame:
    """A parsed QR content."""

    prefix: str
    token: str
    seconds: int
    digest: str


def parse_qr_content(content: str) -> QrFrame | None:
    """Split a scanned QR content; ``None`` when it is not in our format."""
    parts = content.strip().split(".")
    # ASCII digits only: str.isdigit() also takes "²", which int() then refuses.
    if len(parts) != 4 or not _ASCII_DIGITS.fullmatch(parts[2]) or len(parts[3]) != 64:
        return None
    try:
        int(parts[3], 16)
    except ValueError:
        return None
    return QrFrame(parts[0], parts[1], int(parts[2]), parts[3].lower())


def frame_is_authentic(frame: QrFrame, secret: str) -> bool:
    """Whether the frame's HMAC was made with ``secret`` (constant-time compare)."""
    expected = qr_content(frame.prefix, frame.token, secret, frame.seconds).rsplit(".", 1)[1]
    return hmac.compare_digest(expected, frame.digest)


@dataclass
class QrAnimation:
    """The kiosk side: the current frame of one login, from a monotonic clock."""

    prefix: str
    token: str
    secret: str
    started: float = field(default_factory=time.monotonic)

    def current(self, now: float | None = None) -> str:
        """The content to draw now."""
        elapsed = (time.monotonic() if now is None else now) - self.started
        return qr_content(self.prefix, self.token, self.secret, max(0, int(elapsed)))
