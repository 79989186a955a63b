"""Telemetry tied to the kiosk: events from session reports, health on a timer, fleet commands.

:class:`Telemetry` is the event sink's ``deliver`` (it runs on the sink's thread,
never the screen's): each report becomes an event in the durable outbox, and the
link publishes it. A health sample goes into the outbox every interval (thinnable).
Commands from the fleet (maintenance on/off, rebirth) are answered with an event.

When the outbox cannot keep a message (disk full, database locked) the kiosk goes
on serving staff: the loss is counted, the next health sample carries the count,
and an ``error`` event says what happened as soon as the outbox works again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from hw.board import Board
from kiosk.outbox import Outbox, OutboxError
from kiosk.session_report import SessionReport
from kiosk.telemetry import messages as msg
from kiosk.telemetry.link import LinkSettings, TelemetryLink
from protocol import telemetry as tm

log = logging.getLogger(__name__)


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
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings = settings
        self.condition = condition
        self.set_maintenance = set_maintenance
        self.board = board
        self.clock = clock
        self.outbox = Outbox(settings.outbox)
        self.me = msg.Identity(
            settings.link.kiosk_id, self.outbox.increment("incarnation"), settings.card_hash_key
        )
        self.tally = msg.Tally()
        self.maintenance = False
        self._seq = 0
        self._lock = threading.Lock()
        self._lost_unsaid = 0
        self._last_fault: str | None = None
        self._stop = threading.Event()
        self._health_thread: threading.Thread | None = None
        self.link = TelemetryLink(
            settings.link,
            self.outbox,
            self._state_message,
            self._state(tm.KioskState.LOST),
            self._on_command,
        )

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Telemetry:
        """Connect, and sample health every interval."""
        self.link.start()
        self._health_thread = threading.Thread(
            target=self._health_loop, name="telemetry-health", daemon=True
        )
        self._health_thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Say offline (retained) and stop; what is still queued stays on disk for next time."""
        self._stop.set()
        if self._health_thread is not None:
            self._health_thread.join(timeout)
        self.link.stop(self._state(tm.KioskState.OFFLINE), timeout)
        self.outbox.close()

    # -- what goes out -----------------------------------------------------------------

    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

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

    def _state_message(self) -> tm.StateMessage:
        return self._state(tm.KioskState.ONLINE)

    def deliver(self, report: SessionReport) -> None:
        """The event sink: a session report becomes an event (on the sink's thread)."""
        self.deliver_batch([report])

    def deliver_batch(self, reports: list[SessionReport]) -> None:
        """Several reports as events, kept with one disk write."""
        events = [msg.event_from_report(r, self.me, self._next_seq()) for r in reports]
        for event in events:
            self.tally.count(event.kind, event.outcome)
        self._keep(tm.Channel.EVENT, *events)

    def record(self, kind: tm.EventKind, detail: str | None = None) -> None:
        """An event of the kiosk's own."""
        self._keep(
            tm.Channel.EVENT, msg.kiosk_event(kind, self.me, self._next_seq(), self.clock(), detail)
        )

    def _keep(self, channel: tm.Channel, *messages: tm.EventMessage | tm.HealthMessage) -> None:
        """Into the outbox; a loss is counted and said later, never silent."""
        thinnable = channel is tm.Channel.HEALTH
        try:
            if self._lost_unsaid and channel is tm.Channel.EVENT:
                self._say_losses()
            self.outbox.put_many([(channel, tm.encode(m), thinnable) for m in messages])
        except OutboxError as error:
            if channel is tm.Channel.EVENT:
                with self._lock:
                    self.tally.events_lost += len(messages)
                    self._lost_unsaid += len(messages)
            if str(error) != self._last_fault:
                log.error("telemetry: a %s was not kept: %s", channel, error)
                self._say_now(f"the outbox cannot keep messages: {error}")
            self._last_fault = str(error)
            return
        self._last_fault = None
        self.link.nudge()

    def _say_now(self, detail: str) -> None:
        """Tell the fleet of a broken outbox straight away, if connected (not kept: it can't be)."""
        event = msg.kiosk_event(tm.EventKind.ERROR, self.me, self._next_seq(), self.clock(), detail)
        self.link.publish_now(tm.Channel.EVENT, tm.encode(event))

    def _say_losses(self) -> None:
        with self._lock:
            lost, self._lost_unsaid = self._lost_unsaid, 0
        detail = f"{lost} event(s) could not be kept in the outbox: {self._last_fault}"
        event = msg.kiosk_event(tm.EventKind.ERROR, self.me, self._next_seq(), self.clock(), detail)
        try:
            self.outbox.put(tm.Channel.EVENT, tm.encode(event))
        except OutboxError:
            with self._lock:
                self._lost_unsaid += lost
            raise

    def sample(self) -> tm.HealthMessage:
        """One health sample now (also what the timer sends)."""
        now = self.clock()
        return msg.health(
            self.me,
            self._next_seq(),
            now,
            self.board.read(),
            self.condition(),
            certificate_days_left=msg.days_left(_not_after(self.settings.link.client_cert), now),
            outbox_depth=self.outbox.depth(),
            thinned=self._thinned(),
            tally=self.tally,
        )

    def _thinned(self) -> int:
        try:
            return self.outbox.counter("thinned")
        except OutboxError:
            return 0

    def _health_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._keep(tm.Channel.HEALTH, self.sample())
            except Exception:
                log.exception("telemetry: the health sample failed")
            self._stop.wait(self.settings.health_interval)

    # -- what comes in -----------------------------------------------------------------

    def _on_command(self, command: tm.Command, payload: bytes) -> None:
        """A fleet command (its network thread): act, then answer with an event."""
        try:
            order = tm.decode(tm.CommandMessage, payload)
        except ValueError:
            self.record(tm.EventKind.ERROR, f"a {command} command was not understood")
            return
        if command is tm.Command.MAINTENANCE:
            on = bool(order.on)
            if on != self.maintenance:
                self.maintenance = on
                self.set_maintenance(on)
                self.record(
                    tm.EventKind.MAINTENANCE_CHANGED, f"{'on' if on else 'off'} by {order.by}"
                )
        self.link.rebirth()  # the birth shows the maintenance flag; a rebirth is just that
        self.record(tm.EventKind.COMMAND_DONE, f"{command} {order.id}")
