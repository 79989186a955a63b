"""The card service's decisions for kiosks: logins, credentials, outcomes.

No HTTP here: the server passes in the calling kiosk (from its verified client
certificate), its Idempotency-Key and the decoded JSON body, and gets back an
:class:`~cardservice.answers.Answer`. Every change is one transaction with its audit
rows, its e-mail (in the outbox) and its Idempotency-Key record; the identity
provider is called outside any transaction, so a slow provider holds no lock.
Time comes from an injectable clock.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from cardservice import login_state as ls
from cardservice.answers import Answer, Call, Once, moment
from cardservice.identity_provider import IdentityProvider
from cardservice.logins import LoginOperations
from cardservice.notices import Notices
from cardservice.outcome_operations import OutcomeOperations
from cardservice.problems import Problem, parse_request
from cardservice.records import Card, Login, Records, Unlock
from cardservice.store import Store
from cardservice.vault import Vault
from protocol import cardservice_api as api
from protocol.admin_key import admin_cryptogram
from protocol.cardservice_values import HealthStatus, LoginStatusValue, Mechanism
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
    #: Seconds after the credential is handed out before a missing outcome is called unknown.
    outcome_timeout: float = 900.0
    card_attempt_limit: int = 5
    card_attempt_window: float = 24 * 3600.0
    kiosk_login_limit: int = 60
    kiosk_login_window: float = 600.0
    poll_interval: int = 2
    qr_prefix: str = DEFAULT_PREFIX
    #: Product codes (prefixes) whose cards must be unlocked by an ID administrator.
    admin_only_products: tuple[str, ...] = field(default=("SITHS-LEGACY",))


class CardService(LoginOperations, OutcomeOperations):
    """The kiosk operations of the API (logins and outcomes in their own modules)."""

    def __init__(
        self,
        store: Store,
        vault: Vault,
        identity_provider: IdentityProvider,
        config: ServiceConfig | None = None,
        clock: Callable[[], float] = time.time,
        notices: Notices | None = None,
    ) -> None:
        self.store = store
        self.vault = vault
        self.idp = identity_provider
        self.config = config or ServiceConfig()
        self.clock = clock
        self.notices = notices or Notices()
        self.once = Once(store, clock)

    # -- checks --------------------------------------------------------------------------

    def check_kiosk(
        self, records: Records, kiosk_id: str, *, allow_in_maintenance: bool = False
    ) -> str:
        """The kiosk's location; refuse unknown and revoked kiosks, and new work in maintenance."""
        kiosk = records.kiosk(kiosk_id)
        if kiosk is None:
            raise Problem(ProblemCode.UNKNOWN_KIOSK, f"kiosk {kiosk_id!r} is not registered")
        if kiosk.revoked_at is not None:
            raise Problem(ProblemCode.KIOSK_REVOKED, f"kiosk {kiosk_id!r} has been revoked")
        if not allow_in_maintenance and records.get_setting("maintenance", "off") == "on":
            raise Problem(ProblemCode.MAINTENANCE)
        return kiosk.location

    def _card(self, records: Records, card_number: str, *, lock: bool = False) -> Card:
        card = records.card(card_number, lock=lock)
        if card is None:
            raise Problem(ProblemCode.CARD_NOT_REGISTERED)
        if any(card.product_code.startswith(p) for p in self.config.admin_only_products):
            raise Problem(
                ProblemCode.NEEDS_ID_ADMINISTRATOR,
                "this card's generation cannot be unlocked at a kiosk",
            )
        return card

    def _check_attempts(self, records: Records, card: Card, now: float) -> None:
        since = now - self.config.card_attempt_window
        if records.attempts_for_card(card.card_number, since) >= self.config.card_attempt_limit:
            raise Problem(
                ProblemCode.TOO_MANY_ATTEMPTS, "this card has had too many unlock attempts today"
            )

    def _check_new_login(
        self, records: Records, kiosk_id: str, card_number: str, now: float
    ) -> Card:
        self.check_kiosk(records, kiosk_id)
        card = self._card(records, card_number, lock=True)
        self._check_attempts(records, card, now)
        since = now - self.config.kiosk_login_window
        if records.logins_from_kiosk(kiosk_id, since) >= self.config.kiosk_login_limit:
            raise Problem(ProblemCode.TOO_MANY_ATTEMPTS, "this kiosk has started too many logins")
        return card

    @staticmethod
    def _kiosk_login(records: Records, kiosk_id: str, order_ref: str) -> Login:
        login = records.login(order_ref)
        if login is None or login.kiosk_id != kiosk_id:
            raise Problem(ProblemCode.UNKNOWN_LOGIN)
        return login

    def _settle(self, records: Records, login: Login, now: float) -> ls.LoginState:
        """The login's state, writing down (and auditing) an expiry that just happened."""
        state = ls.state_at(login, now)
        if state.status != login.status and records.update_login(
            login.order_ref, only_if={"status": login.status}, status=state.status, hint=state.hint
        ):
            records.audit(now, "login-expired", kiosk_id=login.kiosk_id, order_ref=login.order_ref)
        return state

    def _login_status(self, login: Login, state: ls.LoginState) -> api.LoginStatus:
        completion = None
        if state.status == LoginStatusValue.COMPLETE and login.completed_name:
            completion = api.LoginCompletion(
                holder_name=login.completed_name, hsa_id=login.completed_hsa_id or ""
            )
        return api.LoginStatus(
            order_ref=login.order_ref,
            status=state.status,
            hint_code=state.hint,
            expires_at=moment(login.expires),
            completion=completion,
        )

    # -- credentials ------------------------------------------------------------------------

    def request_unlock(self, call: Call, body: object) -> Answer:
        """Release the PUK or the cryptogram, sealed to the kiosk's one-time key.

        A login still pending here is first collected from the provider (the kiosk may
        ask right after the phone approved, before its next poll).
        """
        order_ref = body.get("orderRef") if isinstance(body, dict) else None
        if isinstance(order_ref, str):
            self._refresh(call, order_ref)
        return self.once.run(call, lambda records: self._issue(records, call, body))

    def _issue(self, records: Records, call: Call, body: object) -> tuple[int, api.Unlock]:
        kiosk_id = call.kiosk_id
        self.check_kiosk(records, kiosk_id)
        request = parse_request(api.UnlockRequest, body)
        now = self.clock()
        login = self._kiosk_login(records, kiosk_id, request.order_ref)
        card = self._card(records, login.card_number, lock=True)
        state = self._settle(records, login, now)
        about = {
            "kiosk_id": kiosk_id,
            "card_number": card.card_number,
            "order_ref": login.order_ref,
        }
        if state.expired or now >= login.expires:
            # A complete login is good for a credential only within its lifetime.
            records.audit(now, "refused-login-expired", **about)
            raise Problem(ProblemCode.LOGIN_EXPIRED)
        if state.status != LoginStatusValue.COMPLETE:
            raise Problem(ProblemCode.LOGIN_NOT_COMPLETE)
        if login.card_number != request.card_number:
            raise Problem(ProblemCode.INVALID_REQUEST, "the login was started for another card")
        if login.completed_by != card.personal_identity_number:
            # Committed with the refusal: impersonation attempts are counted and visible.
            records.add_attempt(card.card_number, kiosk_id, now, "not-owner")
            records.audit(now, "refused-not-owner", **about)
            raise Problem(ProblemCode.NOT_CARD_OWNER)
        if login.credential_issued:
            raise Problem(ProblemCode.CREDENTIAL_ALREADY_ISSUED)
        self._check_attempts(records, card, now)
        mechanism = Mechanism(card.mechanism)
        if mechanism is Mechanism.ADMIN_KEY and request.challenge is None:
            raise Problem(ProblemCode.CHALLENGE_REQUIRED)
        if not records.update_login(
            login.order_ref,
            only_if={"credential_issued": False, "status": "complete"},
            credential_issued=True,
        ):
            raise Problem(ProblemCode.CREDENTIAL_ALREADY_ISSUED)
        secret = self.vault.open(card.secret_sealed, card.card_number)
        plaintext = (
            admin_cryptogram(secret, request.challenge)
            if request.challenge and mechanism is Mechanism.ADMIN_KEY
            else secret
        )
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
            outcome_by=None,
        )
        expires_at = moment(unlock.expires)
        binding = EnvelopeBinding(
            kiosk_id=kiosk_id,
            order_ref=login.order_ref,
            card_number=card.card_number,
            unlock_id=unlock.unlock_id,
            expires_at=format_utc(expires_at),  # the answer's expiresAt, character for character
        )
        envelope = api.Envelope.from_sealed(seal(request.kiosk_public_key, plaintext, binding))
        records.add_unlock(unlock)
        records.add_attempt(card.card_number, kiosk_id, now, "credential")
        records.audit(now, f"credential-issued-{mechanism}", unlock_id=unlock.unlock_id, **about)
        return 201, api.Unlock(
            unlock_id=unlock.unlock_id,
            mechanism=mechanism,
            expires_at=expires_at,
            envelope=envelope,
        )

    def health(self) -> Answer:
        """Whether kiosks may use the service now."""
        with self.store.reading() as records:
            on = records.get_setting("maintenance", "off") == "on"
        return Answer.of(api.Health(status=HealthStatus.MAINTENANCE if on else HealthStatus.OK))
