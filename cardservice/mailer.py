"""Sends the holder's e-mails from the outbox: once each, with retries, over STARTTLS when offered.

The messages were queued by :mod:`cardservice.notices` in the same transaction as the
outcome they tell of. This worker hands each to the SMTP server and records that it
did in one step: the message's row is updated (and so locked) before the closing dot
of DATA is sent and committed as soon as the server's "250" is read, so several
instances never both deliver it, and a crash before the dot leaves it unsent (the
server discards a message without its dot). Only a crash in the instant between the
server's "250" and our commit sends it again, with the same Message-ID and Date: at
least once, and a repeat is the same message, which mail systems show once. A
message the server refused is tried again after ``retry_interval``.

TLS: when the server offers STARTTLS it is used, with the server's certificate checked
(against ``ca_file``, else the system's CAs); a failed check leaves the message in the
outbox rather than sending it in clear. ``require_tls`` refuses servers without STARTTLS.
"""

from __future__ import annotations

import email.utils
import logging
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from cardservice.records import Mail
from cardservice.store import Store

log = logging.getLogger(__name__)

#: Seconds between attempts to send a message the SMTP server did not take.
MAIL_RETRY_INTERVAL = 30.0
#: Seconds between looks into the outbox.
MAIL_POLL_INTERVAL = 1.0


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send."""

    host: str
    port: int
    sender: str
    timeout: float = 10.0
    ca_file: Path | None = None
    require_tls: bool = False


def build_message(mail: Mail, sender: str) -> EmailMessage:
    """The message as it goes out: its Date and Message-ID are the outbox row's."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = email.utils.formatdate(mail.created, localtime=False, usegmt=True)
    message["Message-ID"] = mail.message_id
    message.set_content(mail.body)
    return message


class Mailer:
    """The outbox worker."""

    def __init__(
        self,
        store: Store,
        smtp: SmtpSettings,
        *,
        retry_interval: float = MAIL_RETRY_INTERVAL,
        poll_interval: float = MAIL_POLL_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.smtp = smtp
        self.retry_interval = retry_interval
        self.poll_interval = poll_interval
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    def start(self) -> Mailer:
        """Send in the background until :meth:`stop`."""
        self._worker = threading.Thread(target=self._run, name="mailer", daemon=True)
        self._worker.start()
        return self

    def stop(self) -> None:
        """Stop sending (unsent mail stays in the outbox)."""
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(self.smtp.timeout + 5)

    def wake(self) -> None:
        """Look into the outbox now (something was queued)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.flush()
            except (SQLAlchemyError, OSError) as error:  # the worker outlives any one failure
                log.warning("mail delivery: %s", error)
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def _tls(self) -> ssl.SSLContext:
        cafile = str(self.smtp.ca_file) if self.smtp.ca_file else None
        return ssl.create_default_context(cafile=cafile)

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout)
        try:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            elif self.smtp.require_tls:
                raise smtplib.SMTPNotSupportedError("the SMTP server does not offer STARTTLS")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def flush(self) -> bool:
        """Try every due message once; whether the outbox is now empty of due mail."""
        with self.store.reading() as records:
            due = records.due_mail(self.clock())
        if not due:
            return True
        try:
            smtp = self._connect()
        except (OSError, smtplib.SMTPException, ssl.SSLError) as error:
            log.warning("SMTP server %s:%d unavailable: %s", self.smtp.host, self.smtp.port, error)
            return False
        try:
            for mail in due:
                self._send_one(smtp, mail)
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
        with self.store.reading() as records:
            return not records.due_mail(self.clock())

    def _send_one(self, smtp: smtplib.SMTP, mail: Mail) -> None:
        """Send one message; record it as sent in the same breath as the server takes it.

        The envelope and the content go first; then, holding the row (PostgreSQL) or
        the write lock (SQLite), the closing dot, the server's reply, and the commit.
        Another worker that sent the message meanwhile makes us drop the connection
        before the dot, so the server discards our copy.
        """
        content = _dot_quoted(build_message(mail, self.smtp.sender).as_bytes(policy=policy.SMTP))
        try:
            _expect(smtp.mail(email.utils.parseaddr(self.smtp.sender)[1]), 250)
            _expect(smtp.rcpt(mail.recipient), 250, 251)
            _expect(smtp.docmd("DATA"), 354)
            smtp.send(content)
            with self.store.transaction() as records:
                if not records.mail_sent(mail.id, self.clock()):
                    smtp.close()
                    raise OSError("another worker sent this message meanwhile")
                smtp.send(b".\r\n")
                _expect(smtp.getreply(), 250)
        except smtplib.SMTPResponseException as error:
            with self.store.transaction() as records:
                records.mail_failed(mail.id, str(error), self.clock() + self.retry_interval)
            smtp.rset()


def _expect(reply: tuple[int, bytes], *codes: int) -> None:
    if reply[0] not in codes:
        raise smtplib.SMTPResponseException(reply[0], reply[1])


def _dot_quoted(content: bytes) -> bytes:
    """The content as DATA carries it: leading dots doubled, ending in CRLF (RFC 5321 4.5.2)."""
    quoted = re.sub(rb"(?m)^\.", b"..", content)
    return quoted if quoted.endswith(b"\r\n") else quoted + b"\r\n"
