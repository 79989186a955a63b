"""The card service's decisions: logins, the simulated phone, credentials, outcomes.

No HTTP here: the server passes in the calling kiosk's id (from its client
certificate) and plain JSON objects, and gets back JSON objects or a
:class:`~cardservice.problems.Problem`. Time comes from an injectable clock.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from cardservice import login_state as ls
from cardservice.mailer import Mailer, compose_unlock_notice
from cardservice.problems import Problem
from cardservice.store import Card, Login, Store, Unlock
from cardservice.vault import Vault
from protocol.admin_key import CHALLENGE_LENGTH, admin_cryptogram
from protocol.credential import (
    ALGORITHM,
    ENC_LENGTH,
    EnvelopeBinding,
    b64,
    public_key_from_b64,
    seal,
    unb64,
)
from protocol.login_qr import DEFAULT_PREFIX, frame_is_authentic, parse_qr_content

log = logging.getLogger(__name__)

PIN_ROLES = ("identification", "signature")
OUTCOMES = ("unlocked", "failed", "card-removed", "cancelled", "refused")
MECHANISMS = ("puk", "admin-key")


@dataclass(frozen=True)
class ServiceConfig:
    """Limits and timings of the reference service."""

    login_ttl: float = 180.0
    credential_ttl: float = 120.0
    qr_max_age: float = 5.0
    qr_future_tolerance: float = 2.0
    card_attempt_limit: int = 5
    card_attempt_window: float = 24 * 3600.0
    kiosk_login_limit: int = 60
    kiosk_login_window: float = 600.0
    poll_interval: int = 2
    qr_prefix: str = DEFAULT_PREFIX
    #: Product codes (prefixes) whose cards must be unlocked by an ID administrator.
    admin_only_products: tuple[str, ...] = field(default=("SITHS-LEGACY",))


def _iso(epoch: float) -> str:
    return (
        dt.datetime.fromtimestamp(epoch, dt.UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def _text(body: dict[str, object], name: str) -> str:
    """A required short string field, or ``invalid-request``."""
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise Problem("invalid-request", f"{name} must be a non-empty string")
    return value


class CardService:
    """The operations of the API."""

    def __init__(
        self,
        store: Store,
        vault: Vault,
        mailer: Mailer | None,
        config: ServiceConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.vault = vault
        self.mailer = mailer
        self.config = config or ServiceConfig()
        self.clock = clock

    # -- helpers ---------------------------------------------------------------------

    @property
    def in_maintenance(self) -> bool:
        """Whether kiosk calls are refused for maintenance."""
        return self.store.get_setting("maintenance", "off") == "on"

    def check_kiosk(self, kiosk_id: str, *, allow_in_maintenance: bool = False) -> str:
        """The kiosk's location; refuse unknown kiosks, and (new work) during maintenance."""
        location = self.store.kiosk_location(kiosk_id)
        if location is None:
            raise Problem("unknown-kiosk", f"kiosk {kiosk_id!r} is not registered")
        if self.in_maintenance and not allow_in_maintenance:
            raise Problem("maintenance")
        return location

    def _card(self, card_number: str) -> Card:
        card = self.store.card(card_number)
        if card is None:
            raise Problem("card-not-registered")
        if any(card.product_code.startswith(p) for p in self.config.admin_only_products):
            raise Problem(
                "needs-id-administrator",
                "this card's generation cannot be unlocked at a kiosk",
            )
        return card

    def _check_attempts(self, card: Card, now: float) -> None:
        since = now - self.config.card_attempt_window
        if self.store.attempts_for_card(card.card_number, since) >= self.config.card_attempt_limit:
            raise Problem("too-many-attempts", "this card has had too many unlock attempts today")

    def _kiosk_login(self, kiosk_id: str, order_ref: object) -> Login:
        login = self.store.login(order_ref) if isinstance(order_ref, str) else None
        if login is None or login.kiosk_id != kiosk_id:
            raise Problem("unknown-login")
        return login

    def _settle(self, login: Login, now: float) -> ls.LoginState:
        """Current state, writing down an expiry that just happened."""
        state = ls.state_at(login, now)
        if state.status != login.status:
            self.store.update_login(login.order_ref, status=state.status, hint=state.hint)
            self.store.audit(now, f"login-{state.hint}", order_ref=login.order_ref)
        return state

    def _login_json(self, login: Login, state: ls.LoginState) -> dict[str, object]:
        completion = None
        if state.status == ls.COMPLETE and login.completed_by:
            identity = self.store.identity(login.completed_by)
            completion = {
                "holderName": identity["name"] if identity else None,
                "hsaId": identity["hsa_id"] if identity else None,
            }
        return {
            "orderRef": login.order_ref,
            "status": state.status,
            "hintCode": state.hint,
            "expiresAt": _iso(login.expires),
            "completion": completion,
        }

    # -- kiosk: logins -----------------------------------------------------------------

    def start_login(self, kiosk_id: str, body: dict[str, object]) -> dict[str, object]:
        """Start a Mobilt SITHS login for unlocking one card."""
        self.check_kiosk(kiosk_id)
        now = self.clock()
        card = self._card(_text(body, "cardNumber"))
        self._check_attempts(card, now)
        since = now - self.config.kiosk_login_window
        if self.store.logins_from_kiosk(kiosk_id, since) >= self.config.kiosk_login_limit:
            raise Problem("too-many-attempts", "this kiosk has started too many logins")
        with self.store.transaction():
            for older in self.store.pending_logins_of(card.personal_identity_number):
                self.store.update_login(older.order_ref, status=ls.FAILED, hint=ls.CANCELLED)
                self.store.audit(now, "login-cancelled-by-newer", order_ref=older.order_ref)
            login = Login(
                order_ref=str(uuid.uuid4()),
                kiosk_id=kiosk_id,
                card_number=card.card_number,
                person=card.personal_identity_number,
                qr_token=str(uuid.uuid4()),
                qr_secret=secrets.token_hex(16),
                created=now,
                expires=now + self.config.login_ttl,
                status=ls.PENDING,
                hint=ls.OUTSTANDING,
                scanned_by=None,
                completed_by=None,
                credential_issued=False,
            )
            self.store.add_login(login)
            self.store.audit(
                now,
                "login-started",
                kiosk_id=kiosk_id,
                card_number=card.card_number,
                order_ref=login.order_ref,
            )
        return {
            "orderRef": login.order_ref,
            "qrStartToken": login.qr_token,
            "qrStartSecret": login.qr_secret,
            "qrPrefix": self.config.qr_prefix,
            "expiresAt": _iso(login.expires),
            "pollIntervalSeconds": self.config.poll_interval,
        }

    def login_status(self, kiosk_id: str, order_ref: str) -> dict[str, object]:
        """Poll a login."""
        self.check_kiosk(kiosk_id)
        login = self._kiosk_login(kiosk_id, order_ref)
        return self._login_json(login, self._settle(login, self.clock()))

    def cancel_login(self, kiosk_id: str, order_ref: str) -> dict[str, object]:
        """The kiosk gives up on a login (holder cancelled, card removed, timeout)."""
        self.check_kiosk(kiosk_id)
        login = self._kiosk_login(kiosk_id, order_ref)
        now = self.clock()
        state = self._settle(login, now)
        unused = state.status == ls.COMPLETE and not login.credential_issued
        if state.status == ls.PENDING or unused:
            # A complete login the kiosk abandons (card pulled) must not release anything later.
            self.store.update_login(login.order_ref, status=ls.FAILED, hint=ls.CANCELLED)
            self.store.audit(now, "login-cancelled", kiosk_id=kiosk_id, order_ref=order_ref)
            state = ls.LoginState(ls.FAILED, ls.CANCELLED)
        return self._login_json(login, state)

    # -- phone -------------------------------------------------------------------------

    def identities(self) -> dict[str, object]:
        """The simulated phone's test identities."""
        return {
            "identities": [
                {
                    "personalIdentityNumber": row["personal_identity_number"],
                    "name": row["name"],
                    "hsaId": row["hsa_id"],
                }
                for row in self.store.identities()
            ]
        }

    def phone_scan(self, body: dict[str, object]) -> dict[str, object]:
        """The phone read a QR frame off the kiosk screen."""
        content = _text(body, "qrContent")
        person = _text(body, "personalIdentityNumber")
        frame = parse_qr_content(content)
        login = self.store.login_by_token(frame.token) if frame else None
        if frame is None or login is None or frame.prefix != self.config.qr_prefix:
            raise Problem("qr-invalid")
        if not frame_is_authentic(frame, login.qr_secret):
            raise Problem("qr-invalid", "the QR code's check value is wrong")
        now = self.clock()
        state = self._settle(login, now)
        if state.status == ls.FAILED and state.hint in (ls.START_FAILED, ls.EXPIRED_TRANSACTION):
            raise Problem("login-expired")
        if state.status != ls.PENDING:
            raise Problem("qr-invalid", "this login is no longer waiting for a scan")
        if not ls.frame_is_fresh(
            frame.seconds,
            now - login.created,
            self.config.qr_max_age,
            self.config.qr_future_tolerance,
        ):
            self.store.audit(now, "qr-stale", order_ref=login.order_ref)
            raise Problem("qr-stale")
        if self.store.identity(person) is None:
            raise Problem("unknown-identity")
        self.store.update_login(login.order_ref, scanned_by=person, hint=ls.USER_SIGN)
        self.store.audit(now, "login-scanned", order_ref=login.order_ref)
        return {"orderRef": login.order_ref, "hintCode": ls.USER_SIGN}

    def phone_decide(
        self, order_ref: str, body: dict[str, object], approve: bool
    ) -> dict[str, object]:
        """The person approved (with their app code) or declined on the phone."""
        person = _text(body, "personalIdentityNumber")
        login = self.store.login(order_ref)
        if login is None or login.scanned_by != person:
            raise Problem("unknown-login", "no scanned login for this identity")
        now = self.clock()
        state = self._settle(login, now)
        if state.status != ls.PENDING:
            raise Problem("login-expired" if state.status == ls.FAILED else "login-not-complete")
        if approve:
            self.store.update_login(order_ref, status=ls.COMPLETE, hint=None, completed_by=person)
            self.store.audit(now, "login-complete", order_ref=order_ref)
            return {"orderRef": order_ref, "status": ls.COMPLETE}
        self.store.update_login(order_ref, status=ls.FAILED, hint=ls.USER_CANCEL)
        self.store.audit(now, "login-declined", order_ref=order_ref)
        return {"orderRef": order_ref, "status": ls.FAILED}

    # -- kiosk: credentials and outcomes ---------------------------------------------------

    def request_unlock(self, kiosk_id: str, body: dict[str, object]) -> dict[str, object]:
        """Release the PUK or the cryptogram, sealed to the kiosk's one-time key."""
        self.check_kiosk(kiosk_id)
        order_ref = _text(body, "orderRef")
        card_number = _text(body, "cardNumber")
        pin_role = _text(body, "pinRole")
        if pin_role not in PIN_ROLES:
            raise Problem("invalid-request", "pinRole must be identification or signature")
        try:
            kiosk_key = public_key_from_b64(body.get("kioskPublicKey"))
            challenge = (
                unb64(body["challenge"], "challenge") if body.get("challenge") is not None else None
            )
        except ValueError as error:
            raise Problem("invalid-request", str(error)) from None
        if challenge is not None and len(challenge) != CHALLENGE_LENGTH:
            raise Problem("invalid-request", f"challenge must be {CHALLENGE_LENGTH} bytes")
        now = self.clock()
        with self.store.transaction():
            login = self._kiosk_login(kiosk_id, order_ref)
            state = self._settle(login, now)
            expired = state.status == ls.FAILED and state.hint in (
                ls.START_FAILED,
                ls.EXPIRED_TRANSACTION,
            )
            if expired or now >= login.expires:
                # A complete login is good for a credential only within its lifetime.
                raise Problem("login-expired")
            if state.status != ls.COMPLETE:
                raise Problem("login-not-complete")
            if login.card_number != card_number:
                raise Problem("invalid-request", "the login was started for another card")
            card = self._card(login.card_number)
            if login.completed_by != card.personal_identity_number:
                self.store.add_attempt(card.card_number, kiosk_id, now)
                self.store.audit(
                    now,
                    "refused-not-owner",
                    kiosk_id=kiosk_id,
                    card_number=card.card_number,
                    order_ref=login.order_ref,
                )
                raise Problem("not-card-owner")
            if login.credential_issued:
                raise Problem("credential-already-issued")
            self._check_attempts(card, now)
            secret = self.vault.open(card.secret_sealed, card.card_number)
            if card.mechanism == "admin-key":
                if challenge is None:
                    raise Problem("challenge-required")
                plaintext = admin_cryptogram(secret, challenge)
            else:
                plaintext = secret
            unlock = Unlock(
                unlock_id=str(uuid.uuid4()),
                order_ref=login.order_ref,
                kiosk_id=kiosk_id,
                card_number=card.card_number,
                pin_role=pin_role,
                mechanism=card.mechanism,
                created=now,
                expires=now + self.config.credential_ttl,
                outcome=None,
                outcome_at=None,
            )
            expires_at = _iso(unlock.expires)
            binding = EnvelopeBinding(
                kiosk_id=kiosk_id,
                order_ref=login.order_ref,
                card_number=card.card_number,
                unlock_id=unlock.unlock_id,
                expires_at=expires_at,  # the answer's expiresAt, character for character
            )
            sealed = seal(kiosk_key, plaintext, binding)
            envelope = {
                "alg": ALGORITHM,
                "enc": b64(sealed[:ENC_LENGTH]),
                "ciphertext": b64(sealed[ENC_LENGTH:]),
            }
            self.store.add_unlock(unlock)
            self.store.update_login(login.order_ref, credential_issued=1)
            self.store.add_attempt(card.card_number, kiosk_id, now)
            self.store.audit(
                now,
                f"credential-issued-{card.mechanism}",
                kiosk_id=kiosk_id,
                card_number=card.card_number,
                order_ref=login.order_ref,
            )
        return {
            "unlockId": unlock.unlock_id,
            "mechanism": unlock.mechanism,
            "expiresAt": expires_at,
            "envelope": envelope,
        }

    def report_outcome(
        self, kiosk_id: str, unlock_id: str, body: dict[str, object]
    ) -> dict[str, object]:
        """Record how the unlock went and e-mail the holder.

        Accepted even during maintenance: the unlock already happened on the
        card, and neither its record nor the holder's e-mail may be lost.
        """
        location = self.check_kiosk(kiosk_id, allow_in_maintenance=True)
        result = _text(body, "result")
        if result not in OUTCOMES:
            raise Problem("invalid-request", "result must be one of " + ", ".join(OUTCOMES))
        detail = body.get("detail")
        if detail is not None and (not isinstance(detail, str) or len(detail) > 500):
            raise Problem("invalid-request", "detail must be a string of at most 500 characters")
        unlock = self.store.unlock(unlock_id)
        if unlock is None or unlock.kiosk_id != kiosk_id:
            raise Problem("unknown-unlock")
        now = self.clock()
        if unlock.outcome is None:
            self.store.set_outcome(unlock_id, result, now)
            self.store.audit(
                now,
                f"outcome-{result}",
                kiosk_id=kiosk_id,
                card_number=unlock.card_number,
                order_ref=unlock.order_ref,
                detail=detail,
            )
            card = self.store.card(unlock.card_number)
            if card is not None and self.mailer is not None:
                subject, text = compose_unlock_notice(
                    holder_name=card.holder_name,
                    card_number=card.card_number,
                    location=location,
                    when=dt.datetime.fromtimestamp(now, dt.UTC),
                    result=result,
                )
                self.mailer.send(card.email, subject, text)
        return {"unlockId": unlock_id, "recorded": True}

    def health(self) -> dict[str, object]:
        """Whether kiosks may use the service now."""
        return {"status": "maintenance" if self.in_maintenance else "ok"}
