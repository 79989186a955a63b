"""The login operations of :class:`~cardservice.service.CardService`: start, poll, cancel.

Why apart: the service's decisions by subject, each file small enough to read at once.
These talk to the identity provider, always outside a transaction, and write what it
said in one transaction with its audit row.
"""

from __future__ import annotations

import logging
import uuid

from cardservice import login_state as ls
from cardservice.answers import Answer, Call, moment
from cardservice.identity_provider import Collection, IdentityProviderError
from cardservice.problems import Problem, parse_request
from cardservice.records import Login, Records
from cardservice.service_core import ServiceCore
from protocol import cardservice_api as api
from protocol.cardservice_values import HintCode, LoginStatusValue
from protocol.problems import ProblemCode

log = logging.getLogger(__name__)


class LoginOperations(ServiceCore):
    """Start, poll and cancel logins (mixed into :class:`~cardservice.service.CardService`)."""

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
            # A complete login the kiosk abandons (card pulled) must not release anything later.
            if (state.status == LoginStatusValue.PENDING or unused) and records.update_login(
                order_ref,
                only_if={"status": state.status, "credential_issued": False},
                status="failed",
                hint=HintCode.CANCELLED,
            ):
                records.audit(now, "login-cancelled", kiosk_id=call.kiosk_id, order_ref=order_ref)
                cancelled.append(login.idp_order_ref)
                state = ls.LoginState(LoginStatusValue.FAILED, HintCode.CANCELLED)
            return 200, self._login_status(login, state)

        answer = self.once.run(call, work)
        for idp_order_ref in cancelled:
            self._cancel_at_provider(idp_order_ref)
        return answer

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
