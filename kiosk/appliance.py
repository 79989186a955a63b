"""The kiosk appliance wired together for ``kiosk run``.

Configuration -> card service client, trust anchors, controller, reader
watcher, and the Kivy window.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from hw.reader_watcher import ReaderWatcher
from hw.siths.trust import TrustStore
from kiosk.card_actions import PcscCardAccess
from kiosk.cardservice_client import CardServiceClient
from kiosk.config import KioskConfig
from kiosk.controller import Controller
from kiosk.device_identity import identity_problem
from kiosk.event_sink import BackgroundSink, Deliver
from kiosk.flow.machine import FlowConfig
from kiosk.session_report import SessionReport

log = logging.getLogger(__name__)


def flow_config(config: KioskConfig) -> FlowConfig:
    """Timeouts and PUK margin from the configuration file."""
    return FlowConfig(config.timeouts, config.puk_margin)


def log_report(report: SessionReport) -> None:
    """Default event sink until telemetry exists: the journal (never a PIN: reports have none)."""
    log.info("session event: %s", json.dumps(report.to_json(), ensure_ascii=False))


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

    @classmethod
    def build(cls, config: KioskConfig, *, deliver: Deliver = log_report) -> Appliance:
        """Wire the parts; reads the trust anchors (missing ones mean "not provisioned")."""
        service = config.card_service
        client = CardServiceClient(
            service.url,
            kiosk_id=config.kiosk_id,
            client_cert=(service.client_cert, service.client_key),
            ca_file=service.ca_file,
            connect_timeout=service.connect_timeout,
            read_timeout=service.read_timeout,
        )
        try:
            trust = TrustStore.from_pem_files(config.trust_anchors)
        except (OSError, ValueError) as error:
            log.error("SITHS trust anchors unusable (%s); the kiosk is out of service", error)
            trust = None
        sink = BackgroundSink(deliver)
        controller = Controller(
            card=PcscCardAccess(trust, apdu_timeout=config.apdu_timeout),
            service=client,
            kiosk_id=config.kiosk_id,
            flow_config=flow_config(config),
            sink=sink,
            provisioned=ProvisioningCheck(config, trust is not None),
        )
        watcher = ReaderWatcher(controller.on_reader_event)
        return cls(config, client, controller, watcher, sink)

    def start(self) -> Appliance:
        """Start the event sink, the controller, then the reader watcher."""
        self.sink.start()
        self.controller.start()
        self.watcher.start()
        return self

    def stop(self) -> None:
        """Stop everything; the reports already made are delivered first."""
        self.watcher.stop()
        self.controller.stop()
        self.sink.stop()
        self.client.close()

    def run_window(
        self, on_started: Callable[[object], None] | None = None, *, closable: bool = False
    ) -> None:
        """Show the touchscreen UI until the app stops (blocks the main thread)."""
        from kiosk.ui import kivy_setup

        kivy_setup.configure(fullscreen=self.config.fullscreen)
        from kiosk.ui.app import KioskApp

        app = KioskApp(
            initial=self.controller.state,
            send=self.controller.dispatch,
            language=self.config.language,
            scrambled=self.config.scramble_keypad,
            on_started=on_started,
            closable=closable,
        )
        self.controller.on_state = app.state_changed
        app.state_changed(self.controller.state)
        app.run()
