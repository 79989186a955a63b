"""The simulated Mobilt SITHS phone as a program sees it: scan the kiosk's QR, then decide.

One client for the demo and the tests, over the phone routes (``/v1/phone/*``) of the
simulated identity provider (:mod:`sim.identity_provider`; HTTPS, no client
certificate, trusting only the provider's CA). The card service has no such routes:
a real phone talks to the real identity provider.
"""

from __future__ import annotations

from pathlib import Path

import requests


class PhoneRefused(Exception):
    """The simulator refused a scan or a decision; ``code`` is its problem code."""

    def __init__(self, step: str, code: str | None) -> None:
        super().__init__(f"the phone's {step} was refused ({code})")
        self.code = code


class SimulatedPhone:
    """A phone logged in as one person (by personal identity number)."""

    def __init__(self, provider_url: str, provider_ca: Path, person: str) -> None:
        self.provider_url = provider_url.rstrip("/")
        self.person = person
        self.session = requests.Session()
        self.session.trust_env = False  # trust only the provider's CA
        self.session.verify = str(provider_ca)

    def post(self, path: str, body: dict[str, object]) -> requests.Response:
        """A raw call to a simulator route (tests that look at refusals use this)."""
        return self.session.post(f"{self.provider_url}{path}", json=body, timeout=10)

    def _step(self, step: str, path: str, body: dict[str, object]) -> dict[str, object]:
        answer = self.post(path, {"personalIdentityNumber": self.person, **body})
        try:
            data = answer.json()
        except ValueError:
            data = {}
        if answer.status_code != 200:
            raise PhoneRefused(step, data.get("code") if isinstance(data, dict) else None)
        return data

    def scan(self, qr_content: str) -> str:
        """Scan a QR frame off the kiosk's screen; the login's order reference."""
        return str(self._step("scan", "/v1/phone/scan", {"qrContent": qr_content})["orderRef"])

    def decide(self, order_ref: str, *, approve: bool = True) -> None:
        """Enter the app code (approve) or decline."""
        verb = "approve" if approve else "decline"
        self._step(verb, f"/v1/phone/{order_ref}/{verb}", {})

    def log_in(self, qr_content: str, *, approve: bool = True) -> str:
        """Scan and decide in one go; the order reference."""
        order_ref = self.scan(qr_content)
        self.decide(order_ref, approve=approve)
        return order_ref
