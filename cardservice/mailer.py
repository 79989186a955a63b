"""Sends the holder's e-mails from the outbox: once each, with retries, over STARTTLS when offered.

The messages were queued by :mod:`cardservice.notices` in the same transaction as the
outcome they tell of. This worker first claims a message (a lease of a few SMTP
timeouts written into its row, so several instances never send it at once), then
hands it to the SMTP server and records that the server took it as soon as its "250"
is read. No database lock is held while the SMTP server answers: a slow mail server
must never hold up the kiosks' unlocks. A message the server refused, or that could
not be sent before its closing dot, is tried again after ``retry_interval``; a crash
or a lost connection after the dot leaves it unknown whether the server took it, so
it is sent again when the lease lapses, with the same Message-ID and Date: at least
once, and a repeat is the same message, which mail systems show once.

TLS: when the server offers STARTTLS it is used, with the server's certificate checked
(against ``ca_file``, else the system's CAs); a failed check leaves the message in the
outbox rather than sending it in clear. ``require_tls`` refuses servers without STARTTLS.
"""

from __future__ import annotations

import contextlib
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

from cardservice.mail_records import Mail
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


#: RFC 5321's Mailbox without quoting or address literals: a dot-string of atext, then a
#: domain of letter-digit-hyphen labels. Written out because ``email.utils`` takes slips
#: (``a@x..se``, ``a.@x.se``) that SMTP servers refuse or cannot deliver.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_MAILBOX = re.compile(rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@{_LABEL}(?:\.{_LABEL})*")


def sendable_address(text: str) -> bool:
    """Whether the mailer can hand ``text`` to any SMTP server as the recipient.

    Why: an address outside plain ASCII needs a server with SMTPUTF8, which the mailer
    does not ask for, and one outside RFC 5321's syntax (a doubled or trailing dot, say)
    is refused by the server; such an address is refused when the card is registered
    rather than found out when the holder's e-mail cannot leave.
    """
    found = _MAILBOX.fullmatch(text)
    return found is not None and len(found["local"]) <= 64 and len(text) <= 254


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
        #: No connection before this time: the server was unreachable at the last try.
        self._next_connect = 0.0

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
            except Exception:  # even one not foreseen: a dead worker would send nothing more
                log.exception("mail delivery failed unexpectedly; trying again")
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
        if self.clock() < self._next_connect:
            return False  # down at the last try: new mail does not hurry it (nor the log)
        try:
            smtp = self._connect()
        except (OSError, smtplib.SMTPException, ssl.SSLError) as error:
            self._next_connect = self.clock() + self.retry_interval
            log.warning(
                "SMTP server %s:%d unavailable (%d message(s) wait; next try in %.0f s): %s",
                self.smtp.host,
                self.smtp.port,
                len(due),
                self.retry_interval,
                error,
            )
            return False
        try:
            for mail in due:
                self._send_one(smtp, mail)
        except (OSError, smtplib.SMTPException) as error:
            log.warning(
                "SMTP conversation with %s:%d broke off: %s", self.smtp.host, self.smtp.port, error
            )
            return False
        else:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.quit()
        finally:
            # Broken off, perhaps inside DATA: a QUIT would be read as content and wait
            # out the timeout; closing drops the message (no closing dot) at once.
            smtp.close()
        with self.store.reading() as records:
            return not records.due_mail(self.clock())

    def lease(self) -> float:
        """Seconds a claim on a message lasts: the whole conversation, with room to spare."""
        return 2 * self.smtp.timeout + 5

    def _send_one(self, smtp: smtplib.SMTP, mail: Mail) -> None:
        """Claim one message, send it, and record that the server took it.

        The closing dot goes only while the claim still has an SMTP timeout to run, so
        the claim cannot lapse (and another worker take the message) before the reply.
        """
        now = self.clock()
        claimed_until = now + self.lease()
        with self.store.transaction() as records:
            if not records.claim_mail(mail.id, now, claimed_until):
                return  # another worker has it, or sent it meanwhile
        try:
            message = build_message(mail, self.smtp.sender)
            content = _dot_quoted(message.as_bytes(policy=policy.SMTP))
            _expect(smtp.mail(email.utils.parseaddr(self.smtp.sender)[1]), 250)
            _expect(smtp.rcpt(mail.recipient), 250, 251)
            _expect(smtp.docmd("DATA"), 354)
            smtp.send(content)
            if self.clock() + self.smtp.timeout + 1 > claimed_until:
                raise OSError("the message took too long to send; it is tried again later")
        except (OSError, smtplib.SMTPException, ValueError) as error:
            # Not sent: the server discards a message without its closing dot. A
            # ValueError is an address or header smtplib cannot put on the wire (not
            # ASCII, a line break): that message waits, the others go.
            with self.store.transaction() as records:
                records.mail_failed(
                    mail.id, str(error), self.clock() + self.retry_interval, claimed_until
                )
            if isinstance(error, (smtplib.SMTPResponseException, ValueError)):
                smtp.rset()
                return
            raise
        smtp.send(b".\r\n")
        # A connection lost here leaves it unknown whether the server took the message:
        # it stays claimed, and is sent again when the claim lapses.
        reply = smtp.getreply()
        with self.store.transaction() as records:
            if reply[0] == 250:
                records.mail_sent(mail.id, self.clock())
            else:
                records.mail_failed(
                    mail.id,
                    f"{reply[0]} {reply[1]!r}",
                    self.clock() + self.retry_interval,
                    claimed_until,
                )


def _expect(reply: tuple[int, bytes], *codes: int) -> None:
    if reply[0] not in codes:
        raise smtplib.SMTPResponseException(reply[0], reply[1])


def _dot_quoted(content: bytes) -> bytes:
    """The content as DATA carries it: leading dots doubled, ending in CRLF (RFC 5321 4.5.2)."""
    quoted = re.sub(rb"(?m)^\.", b"..", content)
    return quoted if quoted.endswith(b"\r\n") else quoted + b"\r\n"
