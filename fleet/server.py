"""One fleet instance, wired: ingest, the periodic look, the notifier, the web server.

Instances are stateless: everything they know is in the database and the broker, so
a large fleet runs several (each with its own ``instance`` name, one shared
subscription group, one PostgreSQL) behind a load balancer.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from dataclasses import dataclass, field

from fleet import retention
from fleet.accounts import Accounts, SessionLimits
from fleet.alerts import Thresholds
from fleet.device_ca import DeviceCa
from fleet.enrolment import Enrolment, SiteSettings
from fleet.ingest import BrokerSettings, Ingest
from fleet.liveness import Status
from fleet.metrics import Metrics
from fleet.notify import MailSettings, Notifier, WebhookSettings
from fleet.store import Store
from fleet.views import fleet as fleet_view
from fleet.watch import Watcher
from fleet.web.context import WebContext
from fleet.web.enrol import EnrolContext, build_enrol_app
from fleet.web.server import WebServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnrolSettings:
    """The enrolment listener (docs/enrolment-api.md): its port, TLS, CA and site settings."""

    tls: ssl.SSLContext
    ca: DeviceCa
    site: SiteSettings | None
    tls_ca_pem: str | None
    host: str = "127.0.0.1"
    port: int = 8443


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``kiosk-fleet serve`` is told."""

    broker: BrokerSettings
    host: str = "127.0.0.1"
    port: int = 8080
    tls: ssl.SSLContext | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    retention: retention.Retention = field(default_factory=retention.Retention)
    sessions: SessionLimits = field(default_factory=SessionLimits)
    mail: MailSettings | None = None
    webhook: WebhookSettings | None = None
    dashboard_url: str | None = None
    metrics_token: str | None = field(default=None, repr=False)
    #: Seconds between looks (liveness, alerts) and between retention runs.
    look_interval: float = 5.0
    retention_interval: float = 3600.0
    stream_poll: float = 1.0
    enrol: EnrolSettings | None = None


class FleetServer:
    """Start and stop one instance."""

    def __init__(self, settings: ServerSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.metrics = Metrics()
        self.accounts = Accounts(store, settings.sessions)
        self.notifier = Notifier(
            store, self.metrics, settings.mail, settings.webhook, settings.dashboard_url
        )
        self.watcher = Watcher(store, settings.thresholds, self.notifier.channels)
        self.ingest = Ingest(settings.broker, store, self.metrics)
        self.web = WebServer(
            WebContext(
                store,
                self.accounts,
                self.metrics,
                self.ingest.command,
                secure_cookies=settings.tls is not None,
                metrics_token=settings.metrics_token,
                stream_poll=settings.stream_poll,
            ),
            settings.host,
            settings.port,
            settings.tls,
        )
        self.enrol: WebServer | None = None
        if settings.enrol is not None:
            e = settings.enrol
            self.enrol = WebServer(
                EnrolContext(Enrolment(store, e.ca), e.site, e.tls_ca_pem),
                e.host,
                e.port,
                e.tls,
                factory=build_enrol_app,
            )
        self._stop = threading.Event()
        self._looker: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The dashboard's address."""
        return self.web.url

    @property
    def enrol_url(self) -> str | None:
        """The enrolment listener's address, when it runs."""
        return self.enrol.url if self.enrol is not None else None

    def start(self) -> FleetServer:
        """Listen, connect to the broker, start looking and notifying."""
        self.web.start()
        if self.enrol is not None:
            self.enrol.start()
        self.ingest.start()
        self.notifier.start()
        self._looker = threading.Thread(target=self._look_loop, name="fleet-look", daemon=True)
        self._looker.start()
        return self

    def stop(self) -> None:
        """Stop everything this instance started (what was received is stored first)."""
        self._stop.set()
        self.web.stop()
        if self.enrol is not None:
            self.enrol.stop()
        self.ingest.stop()
        if self._looker is not None:
            self._looker.join(30)
        self.notifier.stop()

    def _look_loop(self) -> None:
        next_sweep = 0.0
        while not self._stop.is_set():
            now = time.time()
            try:
                looked = self.watcher.look(now)
                if looked.raised or looked.cleared:
                    self.notifier.wake()
                self._gauges(now)
                if now >= next_sweep:
                    retention.sweep(self.store, self.settings.retention, now)
                    self.accounts.forget_expired(now)
                    next_sweep = now + self.settings.retention_interval
            except Exception:
                log.exception("the periodic look failed")
            self._stop.wait(self.settings.look_interval)

    def _gauges(self, now: float) -> None:
        counts = fleet_view(self.store, now, limit=0)["counts"]
        for status in Status:
            self.metrics.kiosks.labels(str(status)).set(counts[str(status)])
        self.metrics.kiosks_alerting.set(counts["alerting"])
