"""The service's background duties: outcomes that never came, old answers and sent e-mail.

A credential whose outcome the kiosk never reports (the kiosk died, lost power, was
carried off) would otherwise stay silent for ever; after ``outcome_timeout`` it is
recorded as ``unknown``, audited, and the holder is told. Idempotency-Key answers are
dropped after a day, and e-mails the SMTP server took after a week (they hold the
holder's name and card; the audit keeps the record). Several instances may run this
at once: each unlock is settled by whichever wins its conditional update.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import SQLAlchemyError

from cardservice.answers import KEEP_ANSWERS
from cardservice.service import CardService

log = logging.getLogger(__name__)

#: Seconds between rounds.
HOUSEKEEPING_INTERVAL = 10.0
#: Seconds a message the SMTP server took stays in the outbox (the audit keeps the record).
KEEP_SENT_MAIL = 7 * 24 * 3600.0


def housekeeping_round(service: CardService) -> int:
    """One round; how many overdue outcomes were settled."""
    settled = service.call_overdue_outcomes_unknown()
    with service.store.transaction() as records:
        records.forget_answers_before(service.clock() - KEEP_ANSWERS)
        records.forget_sent_mail_before(service.clock() - KEEP_SENT_MAIL)
    return settled


class Housekeeper:
    """Runs :func:`housekeeping_round` every ``interval`` seconds on a thread."""

    def __init__(self, service: CardService, interval: float = HOUSEKEEPING_INTERVAL) -> None:
        self.service = service
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Housekeeper:
        """Begin (the first round runs at once)."""
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End after the current round."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                settled = housekeeping_round(self.service)
                if settled:
                    log.info("%d unlock(s) without a reported outcome recorded as unknown", settled)
            except SQLAlchemyError as error:
                log.warning("housekeeping: %s", error)
            self._stop.wait(self.interval)
