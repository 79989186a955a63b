"""The card service's decisions for kiosks: logins, credentials, outcomes.

No HTTP here: the server passes in the calling kiosk (from its verified client
certificate), its Idempotency-Key and the decoded JSON body, and gets back an
:class:`~cardservice.answers.Answer`. Every change is one transaction with its audit
rows, its e-mail (in the outbox) and its Idempotency-Key record; the identity
provider is called outside any transaction, so a slow provider holds no lock.
Time comes from an injectable clock.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from cardservice import login_state as ls
from cardservice.answers import Answer, Call, Once
from cardservice.identity_provider import Collection, IdentityProvider, IdentityProviderError
from cardservice.notices import Notices
from cardservice.outcomes import Step, next_step
from cardservice.problems import Problem, parse_request
from cardservice.records import Card, Login, Records, Unlock
from cardservice.store import Store
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


def moment(epoch: float) -> dt.datetime:
    """An epoch time of the store as the aware datetime the API models carry."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


class CardService:
    """The kiosk operations of the API."""

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
        if state.status != login.status:
            if records.update_login(
                login.order_ref,
                only_if={"status": login.status},
                status=state.status,
                hint=state.hint,
            ):
                records.audit(
                    now, "login-expired", kiosk_id=login.kiosk_id, order_ref=login.order_ref
                )
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

    # -- logins --------------------------------------------------------------------------

    def start_login(self, call: Call, body: object, end_user_ip: str) -> Answer:
        """Start a Mobilt SITHS login for unlocking one card."""
        try:
            with self.store.reading() as records:
                earlier = self.once.earlier(records, call)
                if earlier is not None:
                    return earlier
                self.check_kiosk(records, call.kiosk_id)
                request = parse_request(api.StartLoginRequest, body)
                self._check_new_login(records, call.kiosk_id, request.card_number, self.clock())
        except Problem as problem:
            return Answer.refusal(problem)
        try:
            started = self.idp.start(end_user_ip)
        except IdentityProviderError as error:
            log.warning("identity provider: %s", error)
            return Answer.refusal(Problem(ProblemCode.IDENTITY_PROVIDER_UNAVAILABLE))
        replaced: list[str] = []

        def work(records: Records) -> tuple[int, api.LoginStart]:
            now = self.clock()
            card = self._check_new_login(records, call.kiosk_id, request.card_number, now)
            for older in records.pending_logins_of(card.personal_identity_number):
                if records.update_login(
                    older.order_ref,
                    only_if={"status": "pending"},
                    status="failed",
                    hint=HintCode.CANCELLED,
                ):
                    records.audit(now, "login-cancelled-by-newer", order_ref=older.order_ref)
                    replaced.append(older.idp_order_ref)
            login = Login(
                order_ref=str(uuid.uuid4()),
                idp_order_ref=started.order_ref,
                kiosk_id=call.kiosk_id,
                card_number=card.card_number,
                person=card.personal_identity_number,
                created=now,
                expires=now + self.config.login_ttl,
                status=LoginStatusValue.PENDING,
                hint=HintCode.OUTSTANDING_TRANSACTION,
                completed_by=None,
                completed_name=None,
                completed_hsa_id=None,
                credential_issued=False,
            )
            records.add_login(login)
            records.audit(
                now,
                "login-started",
                kiosk_id=call.kiosk_id,
                card_number=card.card_number,
                order_ref=login.order_ref,
            )
            return 201, api.LoginStart(
                order_ref=login.order_ref,
                qr_start_token=started.qr_start_token,
                qr_start_secret=started.qr_start_secret,
                qr_prefix=self.config.qr_prefix,
                expires_at=moment(login.expires),
                poll_interval_seconds=self.config.poll_interval,
            )

        answer = self.once.run(call, work)
        if answer.status != 201 or answer.body.get("qrStartToken") != started.qr_start_token:
            replaced.append(started.order_ref)  # refused, or a twin's answer won: ours is unused
        for order_ref in replaced:
            self._cancel_at_provider(order_ref)
        return answer

    def _cancel_at_provider(self, idp_order_ref: str) -> None:
        try:
            self.idp.cancel(idp_order_ref)
        except IdentityProviderError as error:  # it expires there by itself; ours is cancelled
            log.info("identity provider cancel of an order failed: %s", error)

    def login_status(self, call: Call, order_ref: str) -> Answer:
        """Poll a login; a pending one asks the identity provider where it stands.

        Writes only when something changed (an expiry, the provider's news), so the
        many polls of a waiting kiosk take no write lock.
        """
        try:
            with self.store.reading() as records:
                self.check_kiosk(records, call.kiosk_id)
                login = self._kiosk_login(records, call.kiosk_id, order_ref)
            state = ls.state_at(login, self.clock())
            if state != ls.recorded(login):
                with self.store.transaction() as records:
                    state = self._settle(records, login, self.clock())
            if state.status != LoginStatusValue.PENDING:
                return Answer.of(self._login_status(login, state))
            try:
                collected = self.idp.collect(login.idp_order_ref)
            except IdentityProviderError as error:
                log.warning("identity provider: %s", error)
                raise Problem(ProblemCode.IDENTITY_PROVIDER_UNAVAILABLE) from None
            if ls.after_collect(collected) == state:
                return Answer.of(self._login_status(login, state))
            with self.store.transaction() as records:
                return Answer.of(self._apply_collect(records, order_ref, collected))
        except Problem as problem:
            return Answer.refusal(problem)

    def _apply_collect(
        self, records: Records, order_ref: str, collected: Collection
    ) -> api.LoginStatus:
        login = records.login(order_ref)
        if login is None:
            raise Problem(ProblemCode.UNKNOWN_LOGIN)
        now = self.clock()
        state = self._settle(records, login, now)
        if state.status != LoginStatusValue.PENDING:  # expired, or cancelled meanwhile
            return self._login_status(login, state)
        new = ls.after_collect(collected)
        fields: dict[str, object] = {"status": new.status, "hint": new.hint}
        if new.status == LoginStatusValue.COMPLETE:
            fields |= {
                "completed_by": collected.person,
                "completed_name": collected.name,
                "completed_hsa_id": collected.hsa_id,
            }
        if records.update_login(order_ref, only_if={"status": "pending"}, **fields):
            about = {
                "kiosk_id": login.kiosk_id,
                "card_number": login.card_number,
                "order_ref": order_ref,
            }
            if new.status == LoginStatusValue.COMPLETE:
                records.audit(now, "login-complete", **about)
            elif new.status == LoginStatusValue.FAILED:
                # Declined or expired at the provider: audited in this committed transaction.
                records.audit(now, ls.FAILURE_EVENTS.get(new.hint, "login-failed"), **about)  # type: ignore[arg-type]
            login = records.login(order_ref)
            assert login is not None
        return self._login_status(login, new)

    def cancel_login(self, call: Call, order_ref: str) -> Answer:
        """The kiosk gives up on a login (holder cancelled, card removed, timeout)."""
        cancelled: list[str] = []

        def work(records: Records) -> tuple[int, api.LoginStatus]:
            self.check_kiosk(records, call.kiosk_id)
            login = self._kiosk_login(records, call.kiosk_id, order_ref)
            now = self.clock()
            state = self._settle(records, login, now)
            unused = state.status == LoginStatusValue.COMPLETE and not login.credential_issued
            if state.status == LoginStatusValue.PENDING or unused:
                # A complete login the kiosk abandons (card pulled) must not release anything later.
                if records.update_login(
                    order_ref,
                    only_if={"status": state.status, "credential_issued": False},
                    status="failed",
                    hint=HintCode.CANCELLED,
                ):
                    records.audit(
                        now, "login-cancelled", kiosk_id=call.kiosk_id, order_ref=order_ref
                    )
                    cancelled.append(login.idp_order_ref)
                    state = ls.LoginState(LoginStatusValue.FAILED, HintCode.CANCELLED)
            return 200, self._login_status(login, state)

        answer = self.once.run(call, work)
        for idp_order_ref in cancelled:
            self._cancel_at_provider(idp_order_ref)
        return answer

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

    def _refresh(self, call: Call, order_ref: str) -> None:
        """Bring a pending login up to date from the provider (quietly: the work then decides)."""
        with self.store.reading() as records:
            login = records.login(order_ref)
        if login is None or login.kiosk_id != call.kiosk_id:
            return
        if ls.state_at(login, self.clock()).status != LoginStatusValue.PENDING:
            return
        try:
            collected = self.idp.collect(login.idp_order_ref)
        except IdentityProviderError as error:
            log.warning("identity provider: %s", error)
            return
        if ls.after_collect(collected) != ls.recorded(login):
            with self.store.transaction() as records:
                self._apply_collect(records, order_ref, collected)

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

    # -- outcomes ---------------------------------------------------------------------------

    def report_outcome(self, call: Call, unlock_id: str, body: object) -> Answer:
        """Record what became of the card, and e-mail the holder (in the same transaction).

        Accepted even during maintenance: the unlock already happened on the card,
        and neither its record nor the holder's e-mail may be lost.
        """
        return self.once.run(
            call, lambda records: self._record_outcome(records, call, unlock_id, body)
        )

    def _record_outcome(
        self, records: Records, call: Call, unlock_id: str, body: object
    ) -> tuple[int, api.OutcomeRecorded]:
        location = self.check_kiosk(records, call.kiosk_id, allow_in_maintenance=True)
        request = parse_request(api.OutcomeRequest, body)
        unlock = records.unlock(unlock_id)
        if unlock is None or unlock.kiosk_id != call.kiosk_id:
            raise Problem(ProblemCode.UNKNOWN_UNLOCK)
        now = self.clock()
        step = next_step(unlock.outcome, request.result)
        if step is Step.REFUSE:
            raise Problem(
                ProblemCode.OUTCOME_ALREADY_FINAL,
                f"this unlock's outcome is already {unlock.outcome}",
            )
        if step is not Step.ALREADY:
            if not records.set_outcome(unlock_id, request.result, now, "kiosk", was=unlock.outcome):
                raise Problem(
                    ProblemCode.STORAGE_UNAVAILABLE, "the outcome changed meanwhile; send it again"
                )
            detail = " ".join(filter(None, (request.reason, request.detail))) or None
            event = (
                f"outcome-{request.result}"
                if step is Step.RECORD
                else f"outcome-resolved-{request.result}"
            )
            records.audit(
                now,
                event,
                kiosk_id=call.kiosk_id,
                card_number=unlock.card_number,
                order_ref=unlock.order_ref,
                unlock_id=unlock_id,
                detail=detail,
            )
            card = records.card(unlock.card_number)
            if card is not None:
                notice = self.notices.outcome if step is Step.RECORD else self.notices.resolved
                notice(records, card, unlock, location, now, request.result)
        return 200, api.OutcomeRecorded(unlock_id=unlock_id, recorded=True)

    def call_overdue_outcomes_unknown(self) -> int:
        """Credentials whose outcome never came: outcome unknown, audited, holder told. How many."""
        now = self.clock()
        with self.store.reading() as records:
            overdue = records.overdue_unlocks(now - self.config.outcome_timeout)
        done = 0
        for unlock in overdue:
            with self.store.transaction() as records:
                if not records.set_outcome(unlock.unlock_id, "unknown", now, "timeout", was=None):
                    continue  # the kiosk's report, or another instance, came first
                records.audit(
                    now,
                    "outcome-unknown-no-report",
                    kiosk_id=unlock.kiosk_id,
                    card_number=unlock.card_number,
                    order_ref=unlock.order_ref,
                    unlock_id=unlock.unlock_id,
                )
                card = records.card(unlock.card_number)
                kiosk = records.kiosk(unlock.kiosk_id)
                if card is not None:
                    self.notices.overdue(
                        records, card, unlock, kiosk.location if kiosk else unlock.kiosk_id, now
                    )
                done += 1
        return done

    def health(self) -> Answer:
        """Whether kiosks may use the service now."""
        with self.store.reading() as records:
            on = records.get_setting("maintenance", "off") == "on"
        return Answer.of(api.Health(status=HealthStatus.MAINTENANCE if on else HealthStatus.OK))
