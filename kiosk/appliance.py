"""The kiosk appliance wired together for ``kiosk run``.

Configuration -> card service client, trust anchors, controller, reader
watcher, telemetry (when ``[telemetry]`` is configured), and the Kivy window
(or none: ``kiosk run --headless``, for the fleet demo and the tests). Under
systemd it says READY once all of them are up, its state as STATUS, and pings
the watchdog while the screen's loop (or the main loop), the reader watcher
and telemetry all beat (:mod:`kiosk.service_manager`).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

from hw.board import detect_board
from hw.reader_watcher import ReaderWatcher
from hw.siths.trust import TrustStore
from kiosk.card_actions import PcscCardAccess
from kiosk.cardservice_client import CardServiceClient
from kiosk.config import KioskConfig
from kiosk.controller import Controller
from kiosk.device_identity import identity_problem
from kiosk.event_sink import BackgroundSink, Deliver, DeliverBatch
from kiosk.flow.machine import FlowConfig
from kiosk.flow.states import State
from kiosk.journal_logging import state_name, status_line
from kiosk.outcome_reports import BACKOFF, OutcomeReports, Report, ReportingCardService
from kiosk.service_manager import ServiceManager
from kiosk.session_report import SessionReport
from kiosk.telemetry.link import LinkSettings
from kiosk.telemetry.service import Telemetry, TelemetrySettings

log = logging.getLogger(__name__)

#: Seconds each part may go without a heartbeat before the kiosk counts as hung: the
#: longest pause of its loop when healthy, with room to spare. The screen and the main
#: loop beat every :data:`BEAT_EVERY` s; the reader watcher at least every 1 s plus its
#: 5 s backoff while pcscd is away; telemetry's link at least every second, but a
#: connection attempt (DNS, TCP, TLS) may hold it for tens of seconds.
HEARTBEAT_LIMITS = {"screen": 10.0, "main": 10.0, "reader-watcher": 15.0, "telemetry": 60.0}
BEAT_EVERY = 1.0


def flow_config(config: KioskConfig) -> FlowConfig:
    """Timeouts and PUK margin from the configuration file."""
    return FlowConfig(config.timeouts, config.puk_margin)


def log_report(report: SessionReport) -> None:
    """Every report also goes to the journal: no PIN (reports have none), no card number."""
    line = {key: value for key, value in report.to_json().items() if key != "cardNumber"}
    log.info("session event: %s", json.dumps(line, ensure_ascii=False))


def telemetry_settings(config: KioskConfig) -> TelemetrySettings | None:
    """What telemetry needs, from ``[telemetry]`` and the device certificate; None if absent."""
    table = config.telemetry
    if table is None:
        return None
    host, port = table.host_and_port
    try:
        key = table.card_hash_key_file.read_bytes()
    except OSError as error:
        log.error("telemetry: the card-hash key cannot be read (%s); telemetry is off", error)
        return None
    try:
        software = version("siths-kiosk")
    except PackageNotFoundError:
        software = None
    return TelemetrySettings(
        link=LinkSettings(
            kiosk_id=config.kiosk_id,
            host=host,
            port=port,
            ca_file=table.ca_file,
            client_cert=config.card_service.client_cert,
            client_key=config.card_service.client_key,
            will_delay=table.will_delay,
        ),
        outbox=table.outbox,
        card_hash_key=key,
        location=config.location,
        site=table.site or None,
        health_interval=table.health_interval,
        software=software,
        config={
            "language": config.language,
            "puk_margin": config.puk_margin,
            "card_service": urlsplit(config.card_service.url).netloc,
        },
    )


def client_for(config: KioskConfig) -> CardServiceClient:
    """A client for the card service from ``[card_service]``."""
    service = config.card_service
    return CardServiceClient(
        service.url,
        kiosk_id=config.kiosk_id,
        client_cert=(service.client_cert, service.client_key),
        ca_file=service.ca_file,
        connect_timeout=service.connect_timeout,
        read_timeout=service.read_timeout,
    )


def outcome_reports(
    config: KioskConfig, backoff: tuple[float, float] = BACKOFF
) -> tuple[OutcomeReports, CardServiceClient]:
    """The durable queue of outcome reports, with a client (a connection) of its own."""
    client = client_for(config)

    def send(report: Report) -> None:
        client.report_outcome(
            report.unlock_id, report.result, report.reason, idempotency_key=report.key
        )

    return OutcomeReports(config.card_service.outbox, send, backoff=backoff), client


class ProvisioningCheck:
    """Whether the kiosk may serve: files in place, trust anchors read, its id its certificate's.

    Asked at every health check, so a unit the technician finishes provisioning
    comes into service by itself; an identity mismatch is logged once per change.
    """

    def __init__(self, config: KioskConfig, trust_loaded: bool) -> None:
        self.config = config
        self.trust_loaded = trust_loaded
        self._said: str | None = None

    def __call__(self) -> bool:
        """True when the kiosk is provisioned."""
        if not (self.config.provisioned and self.trust_loaded):
            return False
        problem = identity_problem(self.config.kiosk_id, self.config.card_service.client_cert)
        if problem is not None and problem != self._said:
            log.error("%s; the kiosk is out of service until this is fixed", problem)
        self._said = problem
        return problem is None


@dataclass
class Appliance:
    """Everything ``kiosk run`` starts, in the order it starts it."""

    config: KioskConfig
    client: CardServiceClient
    controller: Controller
    watcher: ReaderWatcher
    sink: BackgroundSink
    telemetry: Telemetry | None = None
    #: Outcome reports, kept on disk until the card service takes them.
    reports: OutcomeReports | None = None
    reports_client: CardServiceClient | None = None
    #: systemd's side: READY, STATUS, the watchdog (does nothing when systemd did not start us).
    systemd: ServiceManager = field(default_factory=ServiceManager)
    limits: dict[str, float] = field(default_factory=lambda: dict(HEARTBEAT_LIMITS))
    #: Set by SIGTERM/SIGINT (systemd's stop) from the moment ``kiosk run`` starts.
    stopping: threading.Event = field(default_factory=threading.Event)
    _window: object | None = None
    _signals_wanted: bool = False

    @classmethod
    def build(
        cls,
        config: KioskConfig,
        *,
        deliver: Deliver = log_report,
        systemd: ServiceManager | None = None,
        limits: dict[str, float] | None = None,
        report_backoff: tuple[float, float] = BACKOFF,
    ) -> Appliance:
        """Wire the parts; reads the trust anchors (missing ones mean "not provisioned").

        ``systemd`` and ``limits`` replace the link to systemd and the heartbeat limits
        (the tests give a notify socket of their own and shorter limits);
        ``report_backoff`` the first and longest pause between outcome report tries.
        """
        manager = systemd or ServiceManager()
        limits = {**HEARTBEAT_LIMITS, **(limits or {})}
        liveness = manager.liveness
        client = client_for(config)
        reports, reports_client = outcome_reports(config, report_backoff)
        try:
            trust = TrustStore.from_pem_files(config.trust_anchors)
        except (OSError, ValueError) as error:
            log.error("SITHS trust anchors unusable (%s); the kiosk is out of service", error)
            trust = None

        def one_by_one(batch: list[SessionReport]) -> None:
            for report in batch:
                deliver(report)

        deliveries: list[DeliverBatch] = [one_by_one]

        def fan_out(batch: list[SessionReport]) -> None:
            """Reports to the log and to telemetry; one failing does not stop the other."""
            for each in deliveries:
                try:
                    each(batch)
                except Exception:
                    log.exception("%d reports could not be handed on", len(batch))

        sink = BackgroundSink(deliver, deliver_batch=fan_out)
        controller = Controller(
            card=PcscCardAccess(trust, apdu_timeout=config.apdu_timeout),
            service=ReportingCardService(client, reports),
            kiosk_id=config.kiosk_id,
            flow_config=flow_config(config),
            sink=sink,
            provisioned=ProvisioningCheck(config, trust is not None),
        )
        watcher = ReaderWatcher(
            controller.on_reader_event,
            heartbeat=liveness.heartbeat("reader-watcher", limits["reader-watcher"]),
        )
        telemetry = None
        settings = telemetry_settings(config)
        if settings is not None:
            try:
                telemetry = Telemetry(
                    settings,
                    condition=controller.condition,
                    set_maintenance=controller.set_maintenance,
                    board=detect_board(disk=settings.outbox.parent),
                    dropped=lambda: sink.dropped,
                    heartbeat=liveness.heartbeat("telemetry", limits["telemetry"]),
                )
            except Exception as error:  # telemetry must never keep the kiosk from serving
                log.error("telemetry is off (the kiosk serves without it): %s", error)
            else:
                deliveries.append(telemetry.deliver_batch)
        appliance = cls(
            config, client, controller, watcher, sink, telemetry, reports, reports_client, manager
        )
        appliance.limits = limits
        controller.on_state = appliance.state_changed
        return appliance

    def state_changed(self, state: State) -> None:
        """The flow moved on (controller's thread): tell systemd, and the screen if any."""
        self.systemd.status(status_line(state))
        window = self._window
        if window is not None:
            window.state_changed(state)  # type: ignore[attr-defined]

    def journal_context(self) -> tuple[str, str]:
        """The session key and state name for the journal's fields (any thread)."""
        state = self.controller.state
        session = getattr(state, "session", None)
        key = "" if session is None else f"{self.controller.incarnation}-{session.session_id}"
        return key, state_name(state)

    def start(self) -> Appliance:
        """Start the event sink, outcome reports, telemetry, the controller, the reader watcher."""
        self.sink.start()
        if self.reports is not None:
            self.reports.start()
        if self.telemetry is not None:
            self.telemetry.start()
        self.controller.start()
        self.watcher.start()
        return self

    def stop(self) -> None:
        """Stop everything; the reports already made are handed on (and kept) first."""
        self.systemd.stopping()
        self.watcher.stop()
        self.controller.stop()
        self.sink.stop()
        if self.telemetry is not None:
            self.telemetry.stop()
        if self.reports is not None:
            self.reports.stop()
        if self.reports_client is not None:
            self.reports_client.close()
        self.client.close()

    def stop_on_signals(self) -> Appliance:
        """SIGTERM (systemd) and SIGINT end the run cleanly, so stop() can say offline."""
        self._signals_wanted = True
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: self.request_stop())
        return self

    def request_stop(self) -> None:
        """End :meth:`run_headless` or :meth:`run_window` (from a signal handler too)."""
        self.stopping.set()
        window = self._window
        if window is not None:
            from kivy.clock import Clock

            Clock.schedule_once(lambda _dt: window.stop())  # type: ignore[attr-defined]

    def run_headless(self) -> None:
        """Serve without a screen until SIGTERM or SIGINT (the fleet demo, the tests)."""
        print(f"kiosk {self.config.kiosk_id} running without a screen", flush=True)
        beat = self.systemd.liveness.heartbeat("main", self.limits["main"])
        self.systemd.status(status_line(self.controller.state))
        self.systemd.ready()
        while not self.stopping.wait(BEAT_EVERY):
            beat()

    def run_window(
        self, on_started: Callable[[object], None] | None = None, *, closable: bool = False
    ) -> None:
        """Show the touchscreen UI until the app stops (blocks the main thread)."""
        from kiosk.ui import kivy_setup

        kivy_setup.configure(fullscreen=self.config.fullscreen)
        from kivy.clock import Clock

        from kiosk.ui.app import KioskApp

        def started(app: object) -> None:
            # SDL put its own SIGTERM handler in place with the window; it would ask the
            # window to close, which the kiosk refuses. systemd's stop must end the run.
            if self._signals_wanted:
                self.stop_on_signals()
            if self.stopping.is_set():
                self.request_stop()
            # The screen's loop beats from Kivy's clock: a frozen main thread stops it.
            beat = self.systemd.liveness.heartbeat("screen", self.limits["screen"])
            Clock.schedule_interval(lambda _dt: beat(), BEAT_EVERY)
            self.systemd.status(status_line(self.controller.state))
            self.systemd.ready()
            if on_started is not None:
                on_started(app)

        app = KioskApp(
            initial=self.controller.state,
            send=self.controller.dispatch,
            language=self.config.language,
            scrambled=self.config.scramble_keypad,
            on_started=started,
            closable=closable,
        )
        self._window = app
        app.state_changed(self.controller.state)
        try:
            app.run()
        finally:
            self._window = None
