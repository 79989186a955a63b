"""E-mail to the holder after every unlock attempt, through a durable outbox.

:func:`compose_unlock_notice` is pure (Swedish first, then English). The
:class:`Mailer` puts every message in the SQLite outbox first and then tries
to hand it to the SMTP server; a message the server did not take stays in the
outbox and is retried, so an SMTP outage loses nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import threading
import time
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from cardservice.store import Store
from protocol.reasons import Outcome, outcome_text

log = logging.getLogger(__name__)

STOCKHOLM = ZoneInfo("Europe/Stockholm")
#: Seconds between attempts to hand the outbox to the SMTP server.
MAIL_RETRY_INTERVAL = 30.0


def compose_unlock_notice(
    *,
    holder_name: str,
    card_number: str,
    location: str,
    when: dt.datetime,
    result: Outcome,
) -> tuple[str, str]:
    """Subject and body of the notice (no PIN, no PUK: the service never has the PIN)."""
    swedish, english = outcome_text("sv", result), outcome_text("en", result)
    local = when.astimezone(STOCKHOLM)
    stamp = local.strftime("%Y-%m-%d %H:%M")
    subject = f"SITHS-kort {card_number}: upplåsning vid kiosk / SITHS card unlock at a kiosk"
    body = (
        f"Hej {holder_name},\n\n"
        f"{stamp} gjordes ett försök att låsa upp ditt SITHS-kort med nummer {card_number}"
        f" vid kiosken {location}. Resultat: {swedish}.\n\n"
        "Om det inte var du, kontakta din lokala support omedelbart.\n\n"
        "---\n\n"
        f"Hello {holder_name},\n\n"
        f"At {stamp} (Swedish time) someone tried to unlock your SITHS card number"
        f" {card_number} at the kiosk {location}. Result: {english}.\n\n"
        "If this was not you, contact your local support at once.\n"
    )
    return subject, body


class Mailer:
    """Outbox-backed sending over SMTP."""

    def __init__(
        self,
        store: Store,
        host: str,
        port: int,
        sender: str,
        *,
        timeout: float = 10.0,
        retry_interval: float = MAIL_RETRY_INTERVAL,
    ) -> None:
        self.store = store
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout
        self.retry_interval = retry_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    def start(self) -> Mailer:
        """Deliver in the background: at once when mail is queued, and every retry interval."""
        self._worker = threading.Thread(target=self._run, name="mailer", daemon=True)
        self._worker.start()
        return self

    def stop(self) -> None:
        """Stop the background delivery (queued mail stays in the outbox)."""
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(self.timeout + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.retry_interval)
            self._wake.clear()
            if not self._stop.is_set():
                try:
                    self.flush()
                except Exception:  # the worker must outlive any one failure
                    log.exception("mail delivery failed")

    def send(self, recipient: str, subject: str, body: str) -> None:
        """Queue durably; the background worker (or :meth:`flush`) delivers it."""
        self.store.queue_mail(time.time(), recipient, subject, body)
        self._wake.set()

    def flush(self) -> bool:
        """Try every unsent message once; whether none is left."""
        pending = self.store.unsent_mail()
        if not pending:
            return True
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                for mail in pending:
                    message = EmailMessage()
                    message["From"] = self.sender
                    message["To"] = mail.recipient
                    message["Subject"] = mail.subject
                    message.set_content(mail.body)
                    try:
                        smtp.send_message(message)
                    except smtplib.SMTPException as error:
                        self.store.mark_mail(mail.id, sent_at=None, error=str(error))
                        continue
                    self.store.mark_mail(mail.id, sent_at=time.time(), error=None)
        except (OSError, smtplib.SMTPException) as error:
            log.warning("SMTP server %s:%d unavailable: %s", self.host, self.port, error)
            for mail in pending:
                self.store.mark_mail(mail.id, sent_at=None, error=str(error))
            return False
        return not self.store.unsent_mail()
