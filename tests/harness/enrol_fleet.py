"""The fleet's enrolment listener on a free loopback port, over HTTPS, on a real database.

The listener is the fleet server's own (``fleet.web.enrol`` on ``WebServer``); only
the broker ingest is left out, which enrolment does not use. Its TLS certificate is
the development service certificate, so the fleet's TLS CA (what tokens pin) is the
development service CA.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from fleet.device_ca import DeviceCa
from fleet.enrolment import Enrolment, SiteSettings
from fleet.store import Store
from fleet.web.enrol import EnrolContext, build_enrol_app, enrol_tls_context
from fleet.web.server import WebServer
from protocol import enrolment as en
from sim.dev_pki import DevPkiFiles

SITE = "Testsjukhuset"


def site_settings(
    pki: DevPkiFiles, card_service_url: str, broker_port: int, trust_pem: str
) -> SiteSettings:
    """What the fleet tells kiosks: the test card service and broker, the test SITHS CAs."""
    return SiteSettings(
        card_service_url=card_service_url,
        card_service_ca_pem=pki.service_ca.read_text(),
        broker_url=f"mqtts://127.0.0.1:{broker_port}",
        broker_ca_pem=pki.service_ca.read_text(),
        card_trust_pem=trust_pem,
        card_hash_key=b"h" * 32,
        health_interval=5,
    )


class EnrolFleet:
    """A device CA in a state folder, the store, and the HTTPS listener."""

    def __init__(
        self, state: Path, store_url: str, pki: DevPkiFiles, site: SiteSettings | None
    ) -> None:
        self.state = state
        self.pki = pki
        state.mkdir(parents=True, exist_ok=True)
        self.ca = DeviceCa.create("Test fleet device CA", dt.datetime.now(dt.UTC))
        self.ca.save(state)
        self.ca_file = state / "device-ca.pem"
        self.store = Store(store_url)
        self.enrolment = Enrolment(self.store, self.ca)
        tls = enrol_tls_context(pki.service_cert, pki.service_key, self.ca_file)
        context = EnrolContext(self.enrolment, site, pki.service_ca.read_text())
        self.server = WebServer(context, tls=tls, factory=build_enrol_app).start()

    @property
    def url(self) -> str:
        return self.server.url

    def token(
        self,
        site: str = SITE,
        *,
        kiosk_id: str | None = None,
        valid: float = 3600,
        now: float | None = None,
    ) -> en.EnrolmentToken:
        made = self.enrolment.create_token(
            fleet_url=self.url,
            fleet_ca_pem=self.pki.service_ca.read_text(),
            site=site,
            valid_seconds=valid,
            now=time.time() if now is None else now,
            kiosk_id=kiosk_id,
        )
        return made.token

    def stop(self) -> None:
        self.server.stop()
        self.store.close()
