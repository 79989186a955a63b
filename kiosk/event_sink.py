"""The event sink off the flow thread: a bounded queue the flow never waits on.

Telemetry will publish over the network and may be slow or down; the screen
must not freeze for it. :class:`BackgroundSink` takes each report at once and
hands it to the slow ``deliver`` on its own thread, in order. If the queue is
ever full (``deliver`` stuck for thousands of reports) a report is not queued:
that is counted in :attr:`BackgroundSink.dropped` and logged, never silent.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from kiosk.session_report import SessionReport

log = logging.getLogger(__name__)

Deliver = Callable[[SessionReport], None]
DeliverBatch = Callable[[list[SessionReport]], None]

#: At most this many reports are handed on in one batch.
BATCH = 500


class BackgroundSink:
    """Call ``deliver`` for each report on a worker thread; ``__call__`` never blocks.

    With ``deliver_batch``, the reports that queued up while the last ones were being
    handed on go together (telemetry keeps a batch with one disk write).
    """

    def __init__(
        self,
        deliver: Deliver,
        *,
        deliver_batch: DeliverBatch | None = None,
        capacity: int = 10_000,
    ) -> None:
        self.deliver = deliver
        self.deliver_batch = deliver_batch
        self.dropped = 0
        self._queue: queue.Queue[SessionReport | None] = queue.Queue(maxsize=capacity)
        self._thread: threading.Thread | None = None

    def __call__(self, report: SessionReport) -> None:
        """Queue a report (any thread, returns at once)."""
        try:
            self._queue.put_nowait(report)
        except queue.Full:
            self.dropped += 1
            log.error("event sink full: %s report not kept (%d so far)", report.kind, self.dropped)

    @property
    def pending(self) -> int:
        """Reports queued and not yet delivered."""
        return self._queue.qsize()

    def start(self) -> BackgroundSink:
        """Start delivering."""
        self._thread = threading.Thread(target=self._run, name="kiosk-event-sink", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout`` seconds), then stop."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.error("event sink still full at stop; %d reports undelivered", self.pending)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [] if first is None else [first]
            last = first is None
            while not last and len(batch) < BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    last = True
                else:
                    batch.append(more)
            self._hand_on(batch)
            if last:
                return

    def _hand_on(self, batch: list[SessionReport]) -> None:
        if not batch:
            return
        if self.deliver_batch is not None:
            try:
                self.deliver_batch(batch)
            except Exception:
                log.exception("event sink could not deliver %d reports", len(batch))
            return
        for report in batch:
            try:
                self.deliver(report)
            except Exception:
                log.exception("event sink could not deliver a %s report", report.kind)
