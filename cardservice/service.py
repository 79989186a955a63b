"""The card service's decisions for kiosks: logins, credentials, outcomes.

No HTTP here: the server passes in the calling kiosk's id (from its client
certificate) and the decoded JSON body, and gets back an answer model of
:mod:`protocol.cardservice_api` or a :class:`~cardservice.problems.Problem`. Each
operation validates its body with the API model after checking the kiosk, so an
unknown kiosk or maintenance is reported before anything about the body.
Time comes from an injectable clock. The simulated phone is :mod:`cardservice.phone`.
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
from cardservice.problems import Problem, parse_request
from cardservice.store import Card, Login, Store, Unlock
from cardservice.vault import Vault
from protocol import cardservice_api as api
from protocol.admin_key import admin_cryptogram
from protocol.cardservice_values import HealthStatus, HintCode, LoginStatusValue, Mechanism
from protocol.credential import EnvelopeBinding, seal
from protocol.login_qr import DEFAULT_PREFIX
from protocol.problems import ProblemCode
from protocol.times import format_utc

log = logging.getLogger(__name__)


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


def moment(epoch: float) -> dt.datetime:
    """An epoch time of the store as the aware datetime the API models carry."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


class CardService:
    """The kiosk operations of the API."""

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
            raise Problem(ProblemCode.UNKNOWN_KIOSK, f"kiosk {kiosk_id!r} is not registered")
        if self.in_maintenance and not allow_in_maintenance:
            raise Problem(ProblemCode.MAINTENANCE)
        return location

    def _card(self, card_number: str) -> Card:
        card = self.store.card(card_number)
        if card is None:
            raise Problem(ProblemCode.CARD_NOT_REGISTERED)
        if any(card.product_code.startswith(p) for p in self.config.admin_only_products):
            raise Problem(
                ProblemCode.NEEDS_ID_ADMINISTRATOR,
                "this card's generation cannot be unlocked at a kiosk",
            )
        return card

    def _check_attempts(self, card: Card, now: float) -> None:
        since = now - self.config.card_attempt_window
        if self.store.attempts_for_card(card.card_number, since) >= self.config.card_attempt_limit:
            raise Problem(
                ProblemCode.TOO_MANY_ATTEMPTS, "this card has had too many unlock attempts today"
            )

    def _kiosk_login(self, kiosk_id: str, order_ref: str) -> Login:
        login = self.store.login(order_ref)
        if login is None or login.kiosk_id != kiosk_id:
            raise Problem(ProblemCode.UNKNOWN_LOGIN)
        return login

    def settle(self, login: Login, now: float) -> ls.LoginState:
        """Current state, writing down an expiry that just happened."""
        state = ls.state_at(login, now)
        if state.status != login.status:
            self.store.update_login(login.order_ref, status=state.status, hint=state.hint)
            self.store.audit(now, f"login-{state.hint}", order_ref=login.order_ref)
        return state

    def _login_status(self, login: Login, state: ls.LoginState) -> api.LoginStatus:
        completion = None
        if state.status == LoginStatusValue.COMPLETE and login.completed_by:
            identity = self.store.identity(login.completed_by)
            if identity is not None:
                completion = api.LoginCompletion(
                    holder_name=identity["name"], hsa_id=identity["hsa_id"]
                )
        return api.LoginStatus(
            order_ref=login.order_ref,
            status=state.status,
            hint_code=state.hint,
            expires_at=moment(login.expires),
            completion=completion,
        )

    # -- kiosk: logins -----------------------------------------------------------------

    def start_login(self, kiosk_id: str, body: object) -> api.LoginStart:
        """Start a Mobilt SITHS login for unlocking one card."""
        self.check_kiosk(kiosk_id)
        request = parse_request(api.StartLoginRequest, body)
        now = self.clock()
        card = self._card(request.card_number)
        self._check_attempts(card, now)
        since = now - self.config.kiosk_login_window
        if self.store.logins_from_kiosk(kiosk_id, since) >= self.config.kiosk_login_limit:
            raise Problem(ProblemCode.TOO_MANY_ATTEMPTS, "this kiosk has started too many logins")
        with self.store.transaction():
            for older in self.store.pending_logins_of(card.personal_identity_number):
                self.store.update_login(
                    older.order_ref, status=LoginStatusValue.FAILED, hint=HintCode.CANCELLED
                )
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
                status=LoginStatusValue.PENDING,
                hint=HintCode.OUTSTANDING_TRANSACTION,
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
        return api.LoginStart(
            order_ref=login.order_ref,
            qr_start_token=login.qr_token,
            qr_start_secret=login.qr_secret,
            qr_prefix=self.config.qr_prefix,
            expires_at=moment(login.expires),
            poll_interval_seconds=self.config.poll_interval,
        )

    def login_status(self, kiosk_id: str, order_ref: str) -> api.LoginStatus:
        """Poll a login."""
        self.check_kiosk(kiosk_id)
        login = self._kiosk_login(kiosk_id, order_ref)
        return self._login_status(login, self.settle(login, self.clock()))

    def cancel_login(self, kiosk_id: str, order_ref: str) -> api.LoginStatus:
        """The kiosk gives up on a login (holder cancelled, card removed, timeout)."""
        self.check_kiosk(kiosk_id)
        login = self._kiosk_login(kiosk_id, order_ref)
        now = self.clock()
        state = self.settle(login, now)
        unused = state.status == LoginStatusValue.COMPLETE and not login.credential_issued
        if state.status == LoginStatusValue.PENDING or unused:
            # A complete login the kiosk abandons (card pulled) must not release anything later.
            self.store.update_login(
                login.order_ref, status=LoginStatusValue.FAILED, hint=HintCode.CANCELLED
            )
            self.store.audit(now, "login-cancelled", kiosk_id=kiosk_id, order_ref=order_ref)
            state = ls.LoginState(LoginStatusValue.FAILED, HintCode.CANCELLED)
        return self._login_status(login, state)

    # -- kiosk: credentials and outcomes ---------------------------------------------------

    def request_unlock(self, kiosk_id: str, body: object) -> api.Unlock:
        """Release the PUK or the cryptogram, sealed to the kiosk's one-time key."""
        self.check_kiosk(kiosk_id)
        request = parse_request(api.UnlockRequest, body)
        now = self.clock()
        with self.store.transaction():
            login = self._kiosk_login(kiosk_id, request.order_ref)
            state = self.settle(login, now)
            expired = state.status == LoginStatusValue.FAILED and state.hint in ls.EXPIRED_HINTS
            if expired or now >= login.expires:
                # A complete login is good for a credential only within its lifetime.
                raise Problem(ProblemCode.LOGIN_EXPIRED)
            if state.status != LoginStatusValue.COMPLETE:
                raise Problem(ProblemCode.LOGIN_NOT_COMPLETE)
            if login.card_number != request.card_number:
                raise Problem(ProblemCode.INVALID_REQUEST, "the login was started for another card")
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
                raise Problem(ProblemCode.NOT_CARD_OWNER)
            if login.credential_issued:
                raise Problem(ProblemCode.CREDENTIAL_ALREADY_ISSUED)
            self._check_attempts(card, now)
            mechanism = Mechanism(card.mechanism)
            secret = self.vault.open(card.secret_sealed, card.card_number)
            if mechanism is Mechanism.ADMIN_KEY:
                if request.challenge is None:
                    raise Problem(ProblemCode.CHALLENGE_REQUIRED)
                plaintext = admin_cryptogram(secret, request.challenge)
            else:
                plaintext = secret
            unlock = Unlock(
                unlock_id=str(uuid.uuid4()),
                order_ref=login.order_ref,
                kiosk_id=kiosk_id,
                card_number=card.card_number,
                pin_role=request.pin_role,
                mechanism=mechanism,
                created=now,
                expires=now + self.config.credential_ttl,
                outcome=None,
                outcome_at=None,
            )
            expires_at = moment(unlock.expires)
            binding = EnvelopeBinding(
                kiosk_id=kiosk_id,
                order_ref=login.order_ref,
                card_number=card.card_number,
                unlock_id=unlock.unlock_id,
                expires_at=format_utc(
                    expires_at
                ),  # the answer's expiresAt, character for character
            )
            envelope = api.Envelope.from_sealed(seal(request.kiosk_public_key, plaintext, binding))
            self.store.add_unlock(unlock)
            self.store.update_login(login.order_ref, credential_issued=1)
            self.store.add_attempt(card.card_number, kiosk_id, now)
            self.store.audit(
                now,
                f"credential-issued-{mechanism}",
                kiosk_id=kiosk_id,
                card_number=card.card_number,
                order_ref=login.order_ref,
            )
        return api.Unlock(
            unlock_id=unlock.unlock_id,
            mechanism=mechanism,
            expires_at=expires_at,
            envelope=envelope,
        )

    def report_outcome(self, kiosk_id: str, unlock_id: str, body: object) -> api.OutcomeRecorded:
        """Record how the unlock went and e-mail the holder.

        Accepted even during maintenance: the unlock already happened on the
        card, and neither its record nor the holder's e-mail may be lost.
        """
        location = self.check_kiosk(kiosk_id, allow_in_maintenance=True)
        request = parse_request(api.OutcomeRequest, body)
        unlock = self.store.unlock(unlock_id)
        if unlock is None or unlock.kiosk_id != kiosk_id:
            raise Problem(ProblemCode.UNKNOWN_UNLOCK)
        now = self.clock()
        if unlock.outcome is None:
            self.store.set_outcome(unlock_id, request.result, now)
            self.store.audit(
                now,
                f"outcome-{request.result}",
                kiosk_id=kiosk_id,
                card_number=unlock.card_number,
                order_ref=unlock.order_ref,
                detail=" ".join(filter(None, (request.reason, request.detail))) or None,
            )
            card = self.store.card(unlock.card_number)
            if card is not None and self.mailer is not None:
                subject, text = compose_unlock_notice(
                    holder_name=card.holder_name,
                    card_number=card.card_number,
                    location=location,
                    when=moment(now),
                    result=request.result,
                )
                self.mailer.send(card.email, subject, text)
        return api.OutcomeRecorded(unlock_id=unlock_id, recorded=True)

    def health(self) -> api.Health:
        """Whether kiosks may use the service now."""
        return api.Health(
            status=HealthStatus.MAINTENANCE if self.in_maintenance else HealthStatus.OK
        )
