"""The demo's mail server: shows each e-mail to the holder on the console.

Why apart: the demo shows what the holder is told; this is the only part of it that
speaks SMTP.
"""

from __future__ import annotations

import email
import email.policy
import socket


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _PrintingHandler:
    """aiosmtpd handler: show the holder's e-mail on the console."""

    async def handle_DATA(self, _server: object, _session: object, envelope: object) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[attr-defined]
        body = message.get_body()
        print("\n--- e-mail to the holder " + "-" * 40)
        print(f"To: {message['To']}\nSubject: {message['Subject']}\n")
        print(body.get_content() if body is not None else "")
        print("-" * 65, flush=True)
        return "250 OK"


def smtp_printer() -> tuple[object | None, int]:
    """An SMTP server that prints each e-mail (aiosmtpd), or none if it is not installed."""
    port = _free_port()
    try:
        from aiosmtpd.controller import Controller as SmtpController
    except ImportError:
        return None, port
    controller = SmtpController(_PrintingHandler(), hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port
