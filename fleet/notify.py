"""Telling people of alerts: e-mail (SMTP, STARTTLS when offered or required) and a webhook.

The notifications were written in the same transaction as the alert's raise or clear
(:mod:`fleet.watch`); this worker sends them. Each is claimed first with a
conditional update (``claimed_until``), so with several instances exactly one sends
it; a failed send is retried with a growing pause, and a claim left by an instance
that died runs out and is taken over.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import requests
from sqlalchemy import and_, or_, select, update

from fleet import schema
from fleet.metrics import Metrics
from fleet.store import Store
from fleet.views import iso

log = logging.getLogger(__name__)

#: Seconds a claim lasts: longer than any send may take.
CLAIM = 120.0
#: Seconds between tries of a failing notification: doubled each time, capped.
RETRY_FIRST, RETRY_MAX = 10.0, 600.0


@dataclass(frozen=True)
class MailSettings:
    """The SMTP server and who hears of alerts."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    ca_file: Path | None = None
    require_tls: bool = False
    timeout: float = 10.0


@dataclass(frozen=True)
class WebhookSettings:
    """Where alerts are POSTed as JSON."""

    url: str
    ca_file: Path | None = None
    timeout: float = 10.0
    headers: dict[str, str] = field(default_factory=dict, repr=False)


def _alert_text(alert: dict, transition: str, dashboard: str | None) -> tuple[str, str]:
    where = ", ".join(p for p in (alert.get("site"), alert.get("location")) if p)
    verb = "RAISED" if transition == "raised" else "CLEARED"
    subject = f"[SITHS kiosk fleet] {verb} {alert['kind']}: {alert['kiosk']}" + (
        f" ({where})" if where else ""
    )
    lines = [
        f"Alert {alert['kind']} {transition} for kiosk {alert['kiosk']}.",
        f"Where: {where or 'not known'}",
        f"What: {alert['detail'] or '-'}",
        f"Raised: {alert['raised_at']}",
    ]
    if alert["cleared_at"]:
        lines.append(f"Cleared: {alert['cleared_at']}")
    if dashboard:
        lines.append(f"Dashboard: {dashboard.rstrip('/')}/kiosks/{alert['kiosk']}")
    return subject, "\n".join(lines) + "\n"


class Notifier:
    """Sends what is due, on a thread of its own (woken when the watcher raised something)."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        mail: MailSettings | None = None,
        webhook: WebhookSettings | None = None,
        dashboard_url: str | None = None,
        interval: float = 5.0,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.mail = mail
        self.webhook = webhook
        self.dashboard_url = dashboard_url
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def channels(self) -> tuple[str, ...]:
        """The configured channels (notifications are written only for these)."""
        return tuple(
            name for name, on in (("email", self.mail), ("webhook", self.webhook)) if on is not None
        )

    def start(self) -> Notifier:
        """Send in the background until :meth:`stop`."""
        self._thread = threading.Thread(target=self._loop, name="fleet-notify", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the send under way."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)

    def wake(self) -> None:
        """Something may be due now."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.send_due(time.time())
            except Exception:
                log.exception("notifications could not be sent")
            self._wake.wait(self.interval)
            self._wake.clear()

    def send_due(self, now: float) -> int:
        """Claim and send every due notification; how many were sent."""
        n, a, k = schema.notifications, schema.alerts, schema.kiosks
        due = or_(n.c.claimed_until.is_(None), n.c.claimed_until < now)
        with self.store.reading() as db:
            rows = db.execute(
                select(
                    n.c.id.label("nid"),
                    n.c.channel,
                    n.c.transition,
                    n.c.attempts,
                    a.c.id.label("alert_id"),
                    a.c.kiosk_id,
                    a.c.kind,
                    a.c.detail,
                    a.c.raised_at,
                    a.c.cleared_at,
                    k.c.site,
                    k.c.location,
                )
                .join(a, a.c.id == n.c.alert_id)
                .outerjoin(k, k.c.kiosk_id == a.c.kiosk_id)
                .where(n.c.sent_at.is_(None), due)
                .order_by(n.c.id)
                .limit(100)
            ).all()
        sent = 0
        for row in rows:
            with self.store.transaction() as db:
                claimed = db.execute(
                    update(n)
                    .where(and_(n.c.id == row.nid, n.c.sent_at.is_(None), due))
                    .values(claimed_until=now + CLAIM, attempts=n.c.attempts + 1)
                ).rowcount
            if not claimed:
                continue  # another instance has it
            alert = {
                "id": row.alert_id,
                "kiosk": row.kiosk_id,
                "kind": row.kind,
                "detail": row.detail,
                "raised_at": iso(row.raised_at),
                "cleared_at": iso(row.cleared_at),
                "site": row.site,
                "location": row.location,
            }
            error = self._send(row.channel, alert, row.transition)
            with self.store.transaction() as db:
                if error is None:
                    db.execute(update(n).where(n.c.id == row.nid).values(sent_at=now))
                else:
                    pause = min(RETRY_MAX, RETRY_FIRST * 2 ** (row.attempts or 0))
                    db.execute(
                        update(n)
                        .where(n.c.id == row.nid)
                        .values(claimed_until=now + pause, last_error=error[:500])
                    )
            if error is None:
                sent += 1
                self.metrics.notifications.labels(row.channel).inc()
            else:
                self.metrics.notification_failures.labels(row.channel).inc()
                log.warning("the %s about alert %s failed: %s", row.channel, alert["id"], error)
        return sent

    def _send(self, channel: str, alert: dict, transition: str) -> str | None:
        try:
            if channel == "email" and self.mail is not None:
                self._mail(self.mail, alert, transition)
            elif channel == "webhook" and self.webhook is not None:
                self._post(self.webhook, alert, transition)
            else:
                return f"the {channel} channel is not configured"
        except (OSError, smtplib.SMTPException, requests.RequestException) as error:
            return f"{type(error).__name__}: {error}"
        return None

    def _mail(self, mail: MailSettings, alert: dict, transition: str) -> None:
        subject, body = _alert_text(alert, transition, self.dashboard_url)
        message = EmailMessage()
        message["From"] = mail.sender
        message["To"] = ", ".join(mail.recipients)
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain="siths-kiosk-fleet")
        message.set_content(body)
        with smtplib.SMTP(mail.host, mail.port, timeout=mail.timeout) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                context = ssl.create_default_context(
                    cafile=str(mail.ca_file) if mail.ca_file else None
                )
                smtp.starttls(context=context)
                smtp.ehlo()
            elif mail.require_tls:
                raise smtplib.SMTPException("the SMTP server does not offer STARTTLS")
            smtp.send_message(message)

    def _post(self, hook: WebhookSettings, alert: dict, transition: str) -> None:
        body = {**alert, "transition": transition}
        if self.dashboard_url:
            body["dashboard"] = f"{self.dashboard_url.rstrip('/')}/kiosks/{alert['kiosk']}"
        answer = requests.post(
            hook.url,
            data=json.dumps(body),
            headers={"Content-Type": "application/json", **hook.headers},
            timeout=hook.timeout,
            verify=str(hook.ca_file) if hook.ca_file else True,
        )
        answer.raise_for_status()
