"""Telemetry tied to the kiosk: events from session reports, health on a timer, fleet commands.

:class:`Telemetry` is the event sink's ``deliver`` (it runs on the sink's thread,
never the screen's): each report becomes an event in the durable outbox, and the
link publishes it. A health sample goes into the outbox every interval (thinnable).
Commands from the fleet (maintenance on/off, rebirth) are carried out on a thread
of their own, once each, and answered with an event; maintenance mode is kept on
disk, so a restart does not end it.

When the outbox cannot keep an event (disk full, database locked), the kiosk goes
on serving staff: the loss is counted in a small file made at start (written in
place, so it works on a full disk), told to the fleet at once past the outbox when
connected, and told again durably, with the count, as soon as the outbox works,
also after a restart.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from hw.board import Board
from kiosk.outbox import Outbox, OutboxError, OutboxFull
from kiosk.session_report import SessionReport
from kiosk.telemetry import messages as msg
from kiosk.telemetry.link import LinkSettings, TelemetryLink
from kiosk.telemetry.losses import LossLedger
from protocol import telemetry as tm

log = logging.getLogger(__name__)

#: The card-hash key's least length: a short key lets anyone recover card numbers.
MIN_CARD_HASH_KEY = 32


@dataclass(frozen=True)
class TelemetrySettings:
    """Everything telemetry needs from the configuration."""

    link: LinkSettings
    outbox: Path
    card_hash_key: bytes = field(repr=False)
    location: str
    site: str | None = None
    health_interval: float = 60.0
    software: str | None = None
    #: Settings that explain the kiosk's behaviour, shown in the birth.
    config: dict[str, str | int | float | bool] = field(default_factory=dict)


def _not_after(certificate: Path) -> dt.datetime | None:
    try:
        return x509.load_pem_x509_certificate(certificate.read_bytes()).not_valid_after_utc
    except (OSError, ValueError):
        return None


class Telemetry:
    """The kiosk's side of docs/telemetry.md."""

    def __init__(
        self,
        settings: TelemetrySettings,
        *,
        condition: Callable[[], msg.KioskCondition],
        set_maintenance: Callable[[bool], None],
        board: Board,
        dropped: Callable[[], int] = lambda: 0,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        heartbeat: Callable[[], None] = lambda: None,
    ) -> None:
        if len(settings.card_hash_key) < MIN_CARD_HASH_KEY:
            raise ValueError(f"the card-hash key must be at least {MIN_CARD_HASH_KEY} bytes")
        self.settings = settings
        self.condition = condition
        self.set_maintenance = set_maintenance
        self.board = board
        self.dropped = dropped
        self.clock = clock
        self.outbox = Outbox(settings.outbox)
        # Higher than any earlier run's, even if the outbox was deleted (the clock then).
        incarnation = max(self.outbox.counter("incarnation") + 1, int(time.time()))
        self.outbox.set_counter("incarnation", incarnation)
        self.me = msg.Identity(settings.link.kiosk_id, incarnation, settings.card_hash_key)
        self.tally = msg.Tally()
        self.maintenance = bool(self.outbox.counter("maintenance"))
        self._thinned_at_start = self.outbox.counter("thinned")
        self._ledger = LossLedger(settings.outbox.with_name(settings.outbox.name + ".lost"))
        self._event_seq = 0
        self._health_seq = 0
        self._put = threading.Lock()  # sequence numbers are taken in outbox order
        self._last_fault: str | None = None
        self._stop = threading.Event()
        self._commands: queue.Queue[tuple[tm.Command, bytes] | None] = queue.Queue(maxsize=1000)
        self._seen_commands: deque[str] = deque(maxlen=200)
        self._threads: list[threading.Thread] = []
        self.link = TelemetryLink(
            settings.link,
            self.outbox,
            lambda: self._state(tm.KioskState.ONLINE),
            lambda: self._state(tm.KioskState.LOST),
            self._on_command,
            heartbeat,
        )
        if self.outbox.recovered_from is not None:
            self.record(
                tm.EventKind.ERROR,
                f"the outbox was unreadable and was moved aside to "
                f"{self.outbox.recovered_from.name}; a new one was started",
            )

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Telemetry:
        """Connect, sample health every interval, take commands."""
        if self.maintenance:
            self.set_maintenance(True)  # still in maintenance from before the restart
        if self._ledger.unsaid:
            self._say_losses()
        self.link.start()
        for target, name in (
            (self._health_loop, "telemetry-health"),
            (self._command_loop, "telemetry-commands"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Say offline (retained) and stop; what is still queued stays on disk for next time."""
        self._stop.set()
        self._commands.put(None)
        for thread in self._threads:
            thread.join(timeout)
        self.link.stop(self._state(tm.KioskState.OFFLINE), timeout)
        self.outbox.close()

    # -- what goes out -----------------------------------------------------------------

    def _state(self, state: tm.KioskState) -> tm.StateMessage:
        s = self.settings
        return tm.StateMessage(
            kiosk=self.me.kiosk_id,
            state=state,
            incarnation=self.me.incarnation,
            at=self.clock(),
            software=s.software,
            site=s.site,
            location=s.location[:200],
            maintenance=self.maintenance,
            health_interval=s.health_interval,
            config=s.config,
        )

    def deliver(self, report: SessionReport) -> None:
        """The event sink: a session report becomes an event (on the sink's thread)."""
        self.deliver_batch([report])

    def deliver_batch(self, reports: list[SessionReport]) -> None:
        """Several reports as events, kept with one disk write; a bad one costs only itself."""
        with self._put:
            events = []
            for report in reports:
                try:
                    self._event_seq += 1
                    events.append(msg.event_from_report(report, self.me, self._event_seq))
                except ValueError:
                    log.exception("telemetry: a %s report is not a valid event", report.kind)
                    self._event_seq -= 1
                    self._lost(1, "a report was not a valid event")
            for event in events:
                self.tally.count(event.kind, event.outcome)
            self._keep_events(events)

    def record(self, kind: tm.EventKind, detail: str | None = None) -> None:
        """An event of the kiosk's own."""
        with self._put:
            self._event_seq += 1
            event = msg.kiosk_event(kind, self.me, self._event_seq, self.clock(), detail)
            self._keep_events([event])

    def _keep_events(self, events: list[tm.EventMessage]) -> None:
        """Into the outbox (caller holds ``_put``); a loss is counted and said, never silent."""
        if not events:
            return
        try:
            if self._ledger.unsaid:
                self._say_losses()
            try:
                self.outbox.put_many([(tm.Channel.EVENT, tm.encode(e), False) for e in events])
            except OutboxFull:
                for event in events:  # keep as many as fit, count the rest
                    try:
                        self.outbox.put(tm.Channel.EVENT, tm.encode(event))
                    except OutboxFull as error:
                        self._lost(1, str(error))
        except OutboxError as error:
            self._lost(len(events), str(error))
            return
        self._last_fault = None
        self.link.nudge()

    def _lost(self, count: int, fault: str) -> None:
        self.tally.events_lost += count
        self._ledger.add(count, fault)
        if fault != self._last_fault:
            log.error("telemetry: %d event(s) not kept: %s", count, fault)
            self._say_now(f"the outbox cannot keep events: {fault}")
        self._last_fault = fault

    def _say_now(self, detail: str) -> None:
        """Tell the fleet of a loss straight away, if connected (not kept: it cannot be).

        Its ``seq`` is 0: it stands outside the sequence of kept events.
        """
        event = msg.kiosk_event(tm.EventKind.ERROR, self.me, 0, self.clock(), detail)
        self.link.publish_now(tm.Channel.EVENT, tm.encode(event))

    def _say_losses(self) -> None:
        """The count of lost events, kept durably (raises OutboxError if it cannot be)."""
        lost, fault = self._ledger.unsaid, self._ledger.fault
        self._event_seq += 1
        detail = f"{lost} event(s) could not be kept in the outbox: {fault}"
        event = msg.kiosk_event(tm.EventKind.ERROR, self.me, self._event_seq, self.clock(), detail)
        self.outbox.put(tm.Channel.EVENT, tm.encode(event))
        self._ledger.said()

    def sample(self) -> tm.HealthMessage:
        """One health sample now (kept in the outbox by the timer)."""
        board = self.board.read()
        condition = self.condition()
        now = self.clock()
        with self._put:
            self._health_seq += 1
            return msg.health(
                self.me,
                self._health_seq,
                now,
                board,
                condition,
                certificate_days_left=msg.days_left(
                    _not_after(self.settings.link.client_cert), now
                ),
                outbox_depth=self.outbox.depth(),
                thinned=self._thinned() - self._thinned_at_start,
                tally=self.tally,
                refused=self.link.refused,
                dropped=self.dropped(),
            )

    def _thinned(self) -> int:
        try:
            return self.outbox.counter("thinned")
        except OutboxError:
            return self._thinned_at_start

    def _health_loop(self) -> None:
        while not self._stop.is_set():
            try:
                payload = tm.encode(self.sample())
                self.outbox.put(tm.Channel.HEALTH, payload, thinnable=True)
                self.link.nudge()
            except OutboxError as error:
                log.warning("telemetry: a health sample was not kept: %s", error)
            except Exception:
                log.exception("telemetry: the health sample failed")
            self._stop.wait(self.settings.health_interval)

    # -- what comes in -----------------------------------------------------------------

    def _on_command(self, command: tm.Command, payload: bytes) -> None:
        """A fleet command (paho's network thread): handed to the command thread at once."""
        try:
            self._commands.put_nowait((command, payload))
        except queue.Full:
            log.error("telemetry: too many commands waiting; a %s command was not taken", command)

    def _command_loop(self) -> None:
        while True:
            item = self._commands.get()
            if item is None:
                return
            try:
                self._carry_out(*item)
            except Exception:
                log.exception("telemetry: the %s command failed", item[0])

    def _carry_out(self, command: tm.Command, payload: bytes) -> None:
        """Act on a command once (a repeat of its id is only answered again), then answer."""
        try:
            order = tm.decode(tm.CommandMessage, payload)
            if command is tm.Command.MAINTENANCE and order.on is None:
                raise ValueError("a maintenance command says on or off")
        except ValueError:
            self.record(tm.EventKind.ERROR, f"a {command} command was not understood")
            return
        if order.id not in self._seen_commands:
            self._seen_commands.append(order.id)
            if command is tm.Command.MAINTENANCE and order.on != self.maintenance:
                self.maintenance = bool(order.on)
                self.outbox.set_counter("maintenance", int(self.maintenance))
                self.set_maintenance(self.maintenance)
                said = f"{'on' if self.maintenance else 'off'} by {order.by or 'the fleet'}"
                self.record(tm.EventKind.MAINTENANCE_CHANGED, said)
        self.link.rebirth()  # the birth shows the maintenance flag; a rebirth is just that
        self.record(tm.EventKind.COMMAND_DONE, f"{command} {order.id}")
