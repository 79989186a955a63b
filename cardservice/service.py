"""The card service's decisions for kiosks: logins, credentials, outcomes.

No HTTP here: the server passes in the calling kiosk (from its verified client
certificate), its Idempotency-Key and the decoded JSON body, and gets back an
:class:`~cardservice.answers.Answer`. Every change is one transaction with its audit
rows, its e-mail (in the outbox) and its Idempotency-Key record; the identity
provider is called outside any transaction, so a slow provider holds no lock.
Time comes from an injectable clock.
"""

from __future__ import annotations

import uuid

from cardservice.answers import Answer, Call, moment
from cardservice.logins import LoginOperations
from cardservice.outcome_operations import OutcomeOperations
from cardservice.problems import Problem, parse_request
from cardservice.records import Records, Unlock
from cardservice.service_core import ServiceConfig
from protocol import cardservice_api as api
from protocol.admin_key import admin_cryptogram
from protocol.cardservice_values import HealthStatus, LoginStatusValue, Mechanism
from protocol.credential import EnvelopeBinding, seal
from protocol.problems import ProblemCode
from protocol.times import format_utc

__all__ = ["CardService", "ServiceConfig"]


class CardService(LoginOperations, OutcomeOperations):
    """The kiosk operations of the API (logins and outcomes in their own modules)."""

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
