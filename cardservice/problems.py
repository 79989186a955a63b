"""RFC 9457 problem details with the stable codes of docs/cardservice-api.md."""

from __future__ import annotations

PROBLEM_BASE = "https://siths-kiosk.example/problems/"

#: code -> (HTTP status, title)
CODES: dict[str, tuple[int, str]] = {
    "card-not-registered": (404, "The card is not registered with the card service"),
    "not-card-owner": (403, "The person who logged in does not own this card"),
    "needs-id-administrator": (409, "This card must be unlocked by an ID administrator"),
    "too-many-attempts": (429, "Too many unlock attempts"),
    "login-expired": (410, "The login has expired"),
    "login-not-complete": (409, "The login is not complete"),
    "credential-already-issued": (409, "This login already gave out its credential"),
    "challenge-required": (400, "The card's challenge is required for this card"),
    "maintenance": (503, "The card service is in maintenance"),
    "client-certificate-required": (401, "A kiosk device certificate is required"),
    "unknown-kiosk": (403, "The kiosk is not registered"),
    "unknown-login": (404, "No such login"),
    "unknown-unlock": (404, "No such unlock"),
    "invalid-request": (400, "The request does not match the API"),
    "qr-invalid": (400, "The QR code is not a login QR code of this service"),
    "qr-stale": (400, "The QR code is too old; scan the code on the screen again"),
    "unknown-identity": (404, "No such identity"),
    "storage-unavailable": (503, "The card service cannot store its records right now"),
}


class Problem(Exception):
    """A refusal the API reports as ``application/problem+json``."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        if code not in CODES:
            raise ValueError(f"unknown problem code {code!r}")
        self.code = code
        self.status, self.title = CODES[code]
        self.detail = detail
        super().__init__(f"{code}: {detail or self.title}")

    def to_json(self) -> dict[str, object]:
        """The problem document."""
        body: dict[str, object] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "code": self.code,
        }
        if self.detail:
            body["detail"] = self.detail
        return body
