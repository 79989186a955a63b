"""The demos' mail server: shows each e-mail on the console as it arrives.

Why apart: both demos show what is mailed (the holder's notice, facility IT's alerts);
this is the only part of them that speaks SMTP.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from email.message import EmailMessage

from sim.broker import free_port


class _PrintingHandler:
    """aiosmtpd handler: hand each message to ``show``."""

    def __init__(self, show: Callable[[EmailMessage], str]) -> None:
        self.show = show

    async def handle_DATA(self, _server: object, _session: object, envelope: object) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[attr-defined]
        print(self.show(message), flush=True)  # type: ignore[arg-type]
        return "250 OK"


def body_text(message: EmailMessage) -> str:
    """The message's text, or nothing."""
    body = message.get_body()
    return str(body.get_content()).rstrip() if body is not None else ""


def smtp_printer(show: Callable[[EmailMessage], str]) -> tuple[object | None, int]:
    """An SMTP server printing ``show(message)`` for each e-mail (aiosmtpd), and its port.

    No server (``None``, a port nobody listens on) when aiosmtpd is not installed.
    """
    port = free_port()
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        return None, port
    controller = Controller(_PrintingHandler(show), hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port
