"""The holder-e-mail outbox's reads and writes, part of :class:`~cardservice.records.Records`.

Why apart: the outbox is a queue with its own rules (a claim is a lease in
``next_attempt``; only its holder hands a message back), read by the mailer alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from cardservice.schema import mail_outbox

_QUEUE_MAIL = insert(mail_outbox)
_MAIL = select(
    mail_outbox.c.id,
    mail_outbox.c.created,
    mail_outbox.c.message_id,
    mail_outbox.c.recipient,
    mail_outbox.c.subject,
    mail_outbox.c.body,
    mail_outbox.c.attempts,
).order_by(mail_outbox.c.id)


@dataclass(frozen=True)
class Mail:
    """An e-mail in the outbox."""

    id: int
    created: float
    message_id: str
    recipient: str
    subject: str
    body: str
    attempts: int


class MailRecords:
    """The outbox, in the transaction of ``self.db``."""

    db: Connection

    def queue_mail(
        self,
        at: float,
        message_id: str,
        recipient: str,
        subject: str,
        body: str,
        unlock_id: str | None = None,
    ) -> None:
        """Put an e-mail in the outbox (sent after this transaction commits)."""
        self.db.execute(
            _QUEUE_MAIL,
            {
                "created": at,
                "message_id": message_id,
                "recipient": recipient,
                "subject": subject,
                "body": body,
                "unlock_id": unlock_id,
                "attempts": 0,
            },
        )

    def due_mail(self, now: float, limit: int = 50) -> list[Mail]:
        """Unsent mail whose next attempt is due."""
        free = mail_outbox.c.next_attempt.is_(None) | (mail_outbox.c.next_attempt < now)
        query = _MAIL.where(mail_outbox.c.sent_at.is_(None), free).limit(limit)
        return [Mail(**row._asdict()) for row in self.db.execute(query)]

    def claim_mail(self, mail_id: int, now: float, until: float) -> bool:
        """Take a due message for sending until ``until``; whether no other worker holds it.

        The claim is a lease in ``next_attempt``: it keeps other workers off the message
        while it is sent, with no lock held, and lapses by itself if this worker dies.
        """
        due = mail_outbox.c.next_attempt.is_(None) | (mail_outbox.c.next_attempt < now)
        query = update(mail_outbox).where(
            mail_outbox.c.id == mail_id, mail_outbox.c.sent_at.is_(None), due
        )
        return self.db.execute(query.values(next_attempt=until)).rowcount == 1

    def mail_sent(self, mail_id: int, at: float) -> bool:
        """Record that the SMTP server takes the message; whether nobody had recorded it before."""
        query = update(mail_outbox).where(
            mail_outbox.c.id == mail_id, mail_outbox.c.sent_at.is_(None)
        )
        done = self.db.execute(
            query.values(sent_at=at, last_error=None, attempts=mail_outbox.c.attempts + 1)
        )
        return done.rowcount == 1

    def mail_failed(self, mail_id: int, error: str, retry_at: float, claimed_until: float) -> bool:
        """The SMTP server did not take it: try again at ``retry_at``; whether the claim held.

        Only the worker whose claim (``claimed_until``) is still in the row may release
        it: one whose claim lapsed must not cut short the claim of the worker sending now.
        """
        query = update(mail_outbox).where(
            mail_outbox.c.id == mail_id,
            mail_outbox.c.sent_at.is_(None),
            mail_outbox.c.next_attempt == claimed_until,
        )
        done = self.db.execute(
            query.values(
                last_error=error[:500], next_attempt=retry_at, attempts=mail_outbox.c.attempts + 1
            )
        )
        return done.rowcount == 1

    def unsent_mail(self) -> list[Mail]:
        """Every message not yet handed to the SMTP server."""
        query = _MAIL.where(mail_outbox.c.sent_at.is_(None))
        return [Mail(**row._asdict()) for row in self.db.execute(query)]

    def forget_sent_mail_before(self, at: float) -> int:
        """Delete messages the SMTP server took before ``at``; how many.

        Why: a sent message is only a copy of what the holder received (name, card,
        place); the audit keeps the record, so the outbox keeps no personal data longer
        than a retry could need it.
        """
        query = delete(mail_outbox).where(
            mail_outbox.c.sent_at.is_not(None), mail_outbox.c.sent_at < at
        )
        return int(self.db.execute(query).rowcount or 0)
