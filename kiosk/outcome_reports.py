"""Outcome reports to the card service, kept on disk until the service acknowledges them.

The holder's screen follows the card (the card's state is the truth); the report
to the card service is delivery, and the service's audit row and the holder's
e-mail depend on it. So a report is written to a durable queue first
(:class:`kiosk.outbox.Outbox`, the same machinery telemetry uses, in a file of its
own: ``[card_service] outbox``) and a sender thread sends the queue in order, one
report at a time, with a growing pause while the service cannot be reached. A
report leaves the queue only when the service has answered for it:

* ``2xx``, or ``409 outcome-already-final`` (the service holds a final outcome for
  the unlock already; sending again can never change it): delivered.
* Any other refusal of the report itself (``400``, ``404 unknown-unlock``, ``410``,
  ``413``, ``422``, another ``409``): it will never be taken, and keeping it would
  block every report behind it. It is dropped, counted (``refused``, kept in the
  queue's file) and logged with its problem code, never a card number or PIN.
* No answer, a ``5xx``, ``429``, an answer that does not match the API, and
  refusals of the kiosk rather than of the report (``401``, ``403``: a certificate
  or registration being put right; every report would be refused alike): kept and
  tried again, after 1 s, 2 s, 4 s ... up to a minute, and after a restart.

Each report carries the same ``Idempotency-Key`` on every try, so a try whose
answer was lost is answered again with the first answer. When the queue cannot
keep a report (a full disk, an unwritable or broken file), the error is logged
plainly, counted, and the report is sent at once without a durable copy, as the
kiosk did before; the holder's screen is the same either way.
"""

from __future__ import annotations

import enum
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kiosk.cardservice_client import LoginStart, LoginStatus, UnlockCredential
from kiosk.cardservice_errors import (
    CardServiceError,
    CardServiceFailure,
    CardServiceProblem,
)
from kiosk.outbox import Outbox, OutboxError
from kiosk.ports import CardService
from protocol.cardservice_values import PinRole
from protocol.credential import UnlockKey
from protocol.problems import ProblemCode
from protocol.reasons import Outcome, Reason

log = logging.getLogger(__name__)

KIND = "outcome"
#: Reports the queue holds before a new one is sent without a durable copy.
CAPACITY = 10_000
#: Seconds between tries while the service cannot take a report: first, most.
BACKOFF = (1.0, 60.0)


@dataclass(frozen=True)
class Report:
    """One outcome report as queued: no card number, no PIN, nothing personal."""

    unlock_id: str
    result: Outcome
    reason: Reason | None
    #: The Idempotency-Key of every try of this report.
    key: str

    def encode(self) -> bytes:
        """The queue's payload."""
        return json.dumps(
            {
                "unlockId": self.unlock_id,
                "result": self.result.value,
                "reason": None if self.reason is None else self.reason.value,
                "key": self.key,
            }
        ).encode()

    @classmethod
    def decode(cls, payload: bytes) -> Report:
        """A queued report; ValueError (or KeyError) for one this code cannot read."""
        data = json.loads(payload)
        reason = data["reason"]
        return cls(
            str(data["unlockId"]),
            Outcome(data["result"]),
            None if reason is None else Reason(reason),
            str(data["key"]),
        )


class Verdict(enum.Enum):
    """What the service's answer to one try means for the queued report."""

    DELIVERED = "delivered"
    REFUSED = "refused"
    RETRY = "retry"


def verdict(error: CardServiceError | None) -> Verdict:
    """The answer's meaning (``None``: a 2xx the client accepted). See the module's text."""
    if error is None:
        return Verdict.DELIVERED
    if isinstance(error, CardServiceProblem):
        if error.code is ProblemCode.OUTCOME_ALREADY_FINAL:
            return Verdict.DELIVERED
        if error.status in (401, 403, 429) or error.status >= 500:
            return Verdict.RETRY
        return Verdict.REFUSED
    if isinstance(error, CardServiceFailure) and 400 <= error.status < 500:
        return Verdict.REFUSED  # a 4xx without a problem document (a proxy): never taken
    return Verdict.RETRY


def describe(error: CardServiceError) -> str:
    """What to log about a failed try: the problem code and status, never its detail text."""
    if isinstance(error, CardServiceProblem):
        return f"HTTP {error.status} {error.code}"
    if isinstance(error, CardServiceFailure):
        return f"HTTP {error.status}"
    return type(error).__name__


#: Sends one report; raises a CardServiceError when the service did not take it.
Send = Callable[[Report], None]


class OutcomeReports:
    """The durable queue of outcome reports and the thread that delivers them."""

    def __init__(self, path: Path, send: Send, *, backoff: tuple[float, float] = BACKOFF) -> None:
        self.send = send
        self.backoff = backoff
        #: Reports sent without a durable copy since start (the queue could not keep them).
        self.unkept = 0
        self.outbox: Outbox | None
        try:
            self.outbox = Outbox(path, capacity=CAPACITY)
        except OutboxError as error:
            log.error(
                "outcome reports cannot be kept on disk (%s); each is sent once at once,"
                " and is lost if the card service cannot be reached",
                error,
            )
            self.outbox = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._waiting = False  # the last try failed and was logged

    # -- the controller's side -------------------------------------------------------

    def report(self, unlock_id: str, result: Outcome, reason: Reason | None) -> None:
        """Queue a report durably (the sender sends it); never raises."""
        report = Report(unlock_id, result, reason, str(uuid.uuid4()))
        if self.outbox is not None:
            try:
                self.outbox.put(KIND, report.encode())
            except OutboxError as error:
                log.error(
                    "an outcome report could not be kept on disk (%s); sending it at once", error
                )
            else:
                self._wake.set()
                return
        self.unkept += 1
        try:
            self.send(report)
        except CardServiceError as error:
            log.error(
                "an outcome report for unlock %s is lost: not kept on disk, not sent (%s)",
                unlock_id,
                describe(error),
            )

    # -- the sender ------------------------------------------------------------------

    def start(self) -> OutcomeReports:
        """Start sending what is queued (from an earlier run too)."""
        if self.outbox is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outcome-reports", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop sending (a try under way ends first); what is queued stays on disk."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.outbox is not None:
            self.outbox.close()

    def depth(self) -> int:
        """Reports waiting (0 without a queue)."""
        return 0 if self.outbox is None else self.outbox.depth()

    def counter(self, name: str) -> int:
        """A kept count: ``refused`` (dropped as never to be taken), ``unreadable``."""
        return 0 if self.outbox is None else self.outbox.counter(name)

    def _run(self) -> None:
        pause = self.backoff[0]
        while not self._stop.is_set():
            try:
                delivered = self._send_oldest()
            except OutboxError as error:
                log.error("the outcome queue cannot be read (%s); trying again", error)
                delivered = False
            except Exception:  # a bug must not end the sender: the report stays queued
                log.exception("sending an outcome report failed; trying again")
                delivered = False
            if delivered is None:  # nothing queued: wait for a report
                self._wake.wait()
                self._wake.clear()
                pause = self.backoff[0]
            elif delivered:
                pause = self.backoff[0]
            else:
                self._stop.wait(pause)
                pause = min(pause * 2, self.backoff[1])

    def _send_oldest(self) -> bool | None:
        """Try the oldest report: None if none, else whether it left the queue."""
        assert self.outbox is not None
        entries = self.outbox.after(0, 1)
        if not entries:
            return None
        entry = entries[0]
        try:
            report = Report.decode(entry.payload)
        except (ValueError, KeyError, TypeError):
            log.error("an unreadable outcome report (queue entry %d) was dropped", entry.seq)
            self._drop(entry.seq, "unreadable")
            return True
        try:
            self.send(report)
        except CardServiceError as error:
            outcome = verdict(error)
            if outcome is Verdict.RETRY:
                # Said once when the waiting starts (and again once it is over), not every try.
                level = logging.DEBUG if self._waiting else logging.WARNING
                log.log(
                    level,
                    "outcome reports wait: the card service did not take the one for unlock %s"
                    " (%s); %d queued, tried again with a growing pause",
                    report.unlock_id,
                    describe(error),
                    self.outbox.depth(),
                )
                self._waiting = True
                return False
            if outcome is Verdict.REFUSED:
                log.error(
                    "the card service refused the outcome report for unlock %s for good (%s);"
                    " it was dropped",
                    report.unlock_id,
                    describe(error),
                )
                self._drop(entry.seq, "refused")
                return True
        self.outbox.ack(entry.seq)
        if self._waiting:
            log.warning("outcome reports flow again; %d queued", self.outbox.depth())
        self._waiting = False
        log.info("outcome report for unlock %s delivered", report.unlock_id)
        return True

    def _drop(self, seq: int, counter: str) -> None:
        """Forget a report that will never be taken, and count it (one transaction each)."""
        assert self.outbox is not None
        self.outbox.ack(seq)
        self.outbox.increment(counter)


class ReportingCardService:
    """The card service as the controller sees it, with outcome reports through the queue."""

    def __init__(self, client: CardService, reports: OutcomeReports) -> None:
        self.client = client
        self.reports = reports

    def health(self) -> str:
        """``"ok"`` or ``"maintenance"``."""
        return self.client.health()

    def start_login(self, card_number: str) -> LoginStart:
        """Start the Mobilt SITHS login for a card."""
        return self.client.start_login(card_number)

    def poll_login(self, order_ref: str) -> LoginStatus:
        """The login's status now."""
        return self.client.poll_login(order_ref)

    def cancel_login(self, order_ref: str) -> LoginStatus:
        """Give up a login."""
        return self.client.cancel_login(order_ref)

    def request_unlock(
        self,
        order_ref: str,
        card_number: str,
        pin_role: PinRole,
        key: UnlockKey,
        challenge: bytes | None = None,
    ) -> UnlockCredential:
        """The opened unlock credential for one PIN."""
        return self.client.request_unlock(order_ref, card_number, pin_role, key, challenge)

    def report_outcome(self, unlock_id: str, result: Outcome, reason: Reason | None = None) -> None:
        """Queued durably; the sender delivers it (this never raises)."""
        self.reports.report(unlock_id, result, reason)
