"""The outcome operations of :class:`~cardservice.service.CardService`.

An outcome report is recorded with its audit row and the holder's e-mail in one
transaction, by the rules of :mod:`cardservice.outcomes`; an outcome that never comes
is recorded as unknown after the configured time, audited and mailed too.
"""

from __future__ import annotations

from cardservice.answers import Answer, Call
from cardservice.outcomes import Step, next_step
from cardservice.problems import Problem, parse_request
from cardservice.records import Records
from cardservice.service_core import ServiceCore
from protocol import cardservice_api as api
from protocol.problems import ProblemCode


class OutcomeOperations(ServiceCore):
    """Report and settle outcomes (mixed into :class:`~cardservice.service.CardService`)."""

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
