"""The reference card service and the simulated identity provider, each on a free loopback port.

Both run in the test process (each on its own event loop thread), so a test can look
into the service's records and move both clocks; they talk to each other only over
HTTPS with mutual TLS, through the relying-party API. ``python -m sim.identity_provider``
and ``kiosk-cardservice serve`` run the same code as processes (tests that kill the
service use those).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import requests

from cardservice.http_app import ServerLimits
from cardservice.http_server import CardServiceServer, CrlSettings, server_tls_context
from cardservice.identity_provider import ProviderSettings, RelyingPartyClient
from cardservice.mailer import Mailer, SmtpSettings
from cardservice.records import Card
from cardservice.service import CardService, ServiceConfig
from cardservice.store import Store
from cardservice.vault import Vault
from kiosk.cardservice_client import CardServiceClient
from kiosk.config import render
from sim.dev_pki import DevPkiFiles
from sim.identity_provider.orders import Orders
from sim.identity_provider.server import ProviderServer, provider_tls_context
from sim.phone_client import SimulatedPhone
from sim.siths_pki import SithsHolder
from tests.harness.smtp_sink import SmtpSink

KIOSK_ID = "kiosk-entre-a"
KIOSK_LOCATION = "Entré A, Testsjukhuset"


@dataclass
class ManualClock:
    """The service's clock: real time, plus whatever the test advances it by."""

    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class CardServiceHarness:
    """One running service with its database, certificates and SMTP sink."""

    def __init__(
        self,
        state_dir: Path,
        pki: DevPkiFiles,
        smtp: SmtpSink,
        config: ServiceConfig,
        *,
        database: str | None = None,
        limits: ServerLimits | None = None,
        clock: ManualClock | None = None,
        orders: Orders | None = None,
        client_ca: Path | None = None,
        client_crl: Path | None = None,
        crl_interval: float = 5.0,
    ) -> None:
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.pki = pki
        self.smtp = smtp
        self.config = config
        self.database = database
        self.clock = clock or ManualClock()
        self.idp = orders or Orders(clock=self.clock)
        provider_tls = provider_tls_context(pki.service_cert, pki.service_key, pki.service_ca)
        self.provider = ProviderServer(self.idp, provider_tls).start()
        self.relying_party = RelyingPartyClient(
            ProviderSettings(self.provider.url, pki.service_ca, pki.rp_cert, pki.rp_key)
        )
        self.store = Store(database or state_dir / "cardservice.sqlite3")
        self.vault = Vault.from_file(state_dir / "master.key")
        smtp_settings = SmtpSettings("127.0.0.1", smtp.port, "kiosk@example.org")
        self.mailer = Mailer(self.store, smtp_settings, poll_interval=0.05).start()
        self.service = CardService(self.store, self.vault, self.relying_party, config, self.clock)
        client_ca = client_ca or pki.device_ca
        tls = server_tls_context(pki.service_cert, pki.service_key, client_ca, client_crl)
        crl = None
        if client_crl is not None:
            crl = CrlSettings(
                pki.service_cert, pki.service_key, client_ca, client_crl, crl_interval
            )
        self.server = CardServiceServer(self.service, tls, limits=limits, crl=crl).start()
        self.store.add_kiosk(KIOSK_ID, KIOSK_LOCATION)

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()
        self.mailer.stop()
        self.provider.stop()
        self.relying_party.close()
        self.store.close()

    def add_identity(self, person: str, name: str, hsa_id: str) -> None:
        """Someone the simulated phone can log in as (besides the registered holders)."""
        self.idp.add_identity(person, name, hsa_id)

    def client(self, kiosk_id: str | None = KIOSK_ID, **options: object) -> CardServiceClient:
        """A kiosk's client; ``kiosk_id=None`` is a kiosk that presents no certificate."""
        cert = None
        if kiosk_id is not None:
            cert = (self.pki.kiosk_cert(kiosk_id), self.pki.kiosk_key(kiosk_id))
        return CardServiceClient(
            self.url,
            kiosk_id=kiosk_id or "kiosk-without-certificate",
            client_cert=cert,
            ca_file=self.pki.service_ca,
            **options,
        )

    def register(
        self,
        holder: SithsHolder,
        *,
        mechanism: str = "puk",
        secret: bytes = b"12345678",
        product_code: str | None = None,
    ) -> None:
        self.store.add_card(
            Card(
                card_number=holder.card_number,
                holder_name=holder.full_name,
                hsa_id=holder.hsa_id,
                personal_identity_number=holder.personal_identity_number,
                email=holder.email,
                product_code=product_code or holder.product_code,
                mechanism=mechanism,
                secret_sealed=self.vault.seal(secret, holder.card_number),
            )
        )
        self.add_identity(holder.personal_identity_number, holder.full_name, holder.hsa_id)

    def kiosk_config(self, trust_file: Path) -> str:
        """A kiosk.toml for a windowed kiosk talking to this service."""
        return render(
            kiosk_id=KIOSK_ID,
            location="Test kiosk",
            url=self.url,
            ca_file=self.pki.service_ca,
            client_cert=self.pki.kiosk_cert(KIOSK_ID),
            client_key=self.pki.kiosk_key(KIOSK_ID),
            trust_anchors=[trust_file],
            fullscreen=False,
            outcome_outbox=self.state_dir / "kiosk-outcomes.sqlite3",
        )

    def phone(self, path: str, body: dict) -> requests.Response:
        """A raw call to the simulated provider's phone routes (the body names the person)."""
        return SimulatedPhone(self.provider.url, self.pki.service_ca, "").post(path, body)

    def scan_and_approve(self, qr_content: str, person: str) -> str:
        """The holder's phone scans the QR and approves; the provider's order reference."""
        return SimulatedPhone(self.provider.url, self.pki.service_ca, person).log_in(qr_content)
