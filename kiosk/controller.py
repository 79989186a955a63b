"""Runs the flow: events in, state out, effects on worker threads, results back as events.

One thread owns the state and applies :func:`kiosk.flow.machine.transition`
to each event in order; effects go to a thread pool so the screen never waits
on a card or the network; their results come back through the same queue.
A ticker sends the clock every half second (timeouts), and a health check
decides in or out of service. Removing the card cancels in-flight work: its
results arrive tagged with an old session and the flow ignores them.

The card, the card service and the event sink come in as interfaces
(:mod:`kiosk.ports`); reports are stamped here (:class:`~kiosk.session_report.
SessionReport`) and handed to a sink that must not block the flow thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from hw.reader_events import EventKind, ReaderEvent
from kiosk.cardservice_errors import CardServiceError
from kiosk.flow import effects as fx
from kiosk.flow import events as ev
from kiosk.flow.machine import FlowConfig, transition
from kiosk.flow.model import LoginInfo
from kiosk.flow.states import Idle, State
from kiosk.ports import CardAccess, CardService, EventSink
from kiosk.reasons import service_reason
from kiosk.session_report import SessionReport
from kiosk.telemetry.messages import KioskCondition

log = logging.getLogger(__name__)

StateListener = Callable[[State], None]


class Controller:
    """The kiosk's engine between the reader, the card service and the screen."""

    def __init__(
        self,
        *,
        card: CardAccess,
        service: CardService,
        kiosk_id: str,
        flow_config: FlowConfig | None = None,
        on_state: StateListener = lambda state: None,
        sink: EventSink = lambda report: None,
        provisioned: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        tick_interval: float = 0.5,
        health_interval: float = 10.0,
    ) -> None:
        self.card = card
        self.service = service
        self.kiosk_id = kiosk_id
        #: Tells this run's sessions apart from an earlier run's in the reports.
        self.incarnation = uuid.uuid4().hex[:12]
        self.config = flow_config or FlowConfig()
        self.on_state = on_state
        self.sink = sink
        self.provisioned = provisioned
        self.clock = clock
        self.wall_clock = wall_clock
        self.tick_interval = tick_interval
        self.health_interval = health_interval
        self.state: State = Idle()
        self._events: queue.Queue[ev.Event | None] = queue.Queue()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kiosk-effect")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._readers: set[str] = set()
        self._cards: set[str] = set()
        self._service_up = True  # until the first health check says otherwise
        self._service_checked = False  # reported as unknown until then
        self._service_latency_ms: float | None = None
        self._maintenance = False
        self._last_health: ev.ServiceHealth | None = None
        self._state_changed = threading.Condition()

    # -- inputs ------------------------------------------------------------------------

    def dispatch(self, event: ev.Event) -> None:
        """Queue an event (any thread)."""
        self._events.put(event)

    def on_reader_event(self, event: ReaderEvent) -> None:
        """Sink for :class:`hw.reader_watcher.ReaderWatcher`."""
        if event.kind is EventKind.CARD_INSERTED:
            self._cards.add(event.reader)
            self.dispatch(ev.CardInserted(event.reader))
        elif event.kind is EventKind.CARD_REMOVED:
            self._cards.discard(event.reader)
            self.dispatch(ev.CardRemoved(event.reader))
        elif event.kind is EventKind.READER_ADDED:
            self._readers.add(event.reader)
            self._publish(fx.Report(fx.ReportKind.READER_CONNECTED, detail=event.reader))
            self._report_health()
        elif event.kind is EventKind.READER_REMOVED:
            self._readers.discard(event.reader)
            self._publish(fx.Report(fx.ReportKind.READER_DISCONNECTED, detail=event.reader))
            self._report_health()
        elif event.kind is EventKind.SERVICE_LOST:
            self._readers.clear()
            self._report_health()

    def set_maintenance(self, on: bool) -> None:
        """Facility IT's maintenance mode: out of service once no session is under way."""
        self._maintenance = on
        self._report_health()

    def condition(self) -> KioskCondition:
        """What the kiosk knows of its surroundings now (for health samples)."""
        return KioskCondition(
            reader_present=bool(self._readers),
            card_service_up=self._service_up if self._service_checked else None,
            card_service_latency_ms=self._service_latency_ms,
            maintenance=self._maintenance,
        )

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Controller:
        """Start the event loop, the ticker and the health check."""
        for target, name in (
            (self._loop, "kiosk-flow"),
            (self._ticker, "kiosk-ticker"),
            (self._health_loop, "kiosk-health"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop all threads; in-flight effects are abandoned."""
        self._stop.set()
        self._events.put(None)
        for thread in self._threads:
            thread.join(5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wait_for(self, predicate: Callable[[State], bool], timeout: float) -> State:
        """Block until the state satisfies ``predicate`` (tests, the scripted demo)."""
        with self._state_changed:
            if not self._state_changed.wait_for(lambda: predicate(self.state), timeout):
                raise TimeoutError(f"flow stayed in {type(self.state).__name__}")
            return self.state

    # -- the loop ------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            event = self._events.get()
            if event is None:
                return
            before = self.state
            try:
                state, effects = transition(before, event, self.clock(), self.config)
            except Exception:
                log.exception("flow failed on %s", type(event).__name__)
                continue
            # Reports first: whoever sees the new state finds its report already queued.
            for effect in effects:
                if isinstance(effect, fx.Report):
                    self._publish(effect)
            if isinstance(state, Idle) and not isinstance(before, Idle) and self._last_health:
                # A session just ended: the latest health decides at once, before any
                # card inserted meanwhile can start a session in maintenance or without service.
                state, more = transition(state, self._last_health, self.clock(), self.config)
                for effect in more:
                    if isinstance(effect, fx.Report):
                        self._publish(effect)
            with self._state_changed:
                self.state = state
                self._state_changed.notify_all()
            if state is not before:
                if type(state) is not type(before):
                    log.info("flow: %s -> %s", type(before).__name__, type(state).__name__)
                self.on_state(state)
                if isinstance(state, Idle) and self._cards:
                    # Back in service with a card already in: serve it.
                    for reader in sorted(self._cards):
                        self.dispatch(ev.CardInserted(reader))
            for effect in effects:
                if not isinstance(effect, fx.Report):
                    self._run(effect)

    def _ticker(self) -> None:
        while not self._stop.wait(self.tick_interval):
            self.dispatch(ev.Tick(self.clock()))

    def _health_loop(self) -> None:
        while not self._stop.is_set():
            self._check_health()
            self._stop.wait(self.health_interval)

    def _check_health(self) -> None:
        """Ask the card service (network: only on the health thread), then report."""
        started = time.monotonic()
        try:
            self._service_up = self.service.health() == "ok"
        except CardServiceError:
            self._service_up = False
        latency = (time.monotonic() - started) * 1000
        self._service_latency_ms = round(latency, 1) if self._service_up else None
        self._service_checked = True
        self._report_health()

    def _report_health(self) -> None:
        """Report health with the last known card-service state (no network: any thread)."""
        health = ev.ServiceHealth(
            reader_present=bool(self._readers),
            provisioned=self.provisioned(),
            card_service_up=self._service_up,
            maintenance=self._maintenance,
        )
        self._last_health = health
        self.dispatch(health)

    # -- effects -------------------------------------------------------------------------

    def _submit(self, work: Callable[[], ev.Event | None]) -> None:
        def run() -> None:
            try:
                result = work()
            except Exception:
                log.exception("effect failed")
                return
            if result is not None:
                self.dispatch(result)

        self._pool.submit(run)

    def _current_session(self) -> int | None:
        session = getattr(self.state, "session", None)
        return None if session is None else session.session_id

    def _run(self, effect: fx.Effect) -> None:
        match effect:
            case fx.ReadCard(session_id=sid, reader=reader):
                self._submit(lambda: self.card.read_card(sid, reader))
            case fx.StartLogin(session_id=sid, card_number=number):
                self._submit(lambda: self._start_login(sid, number))
            case fx.PollLogin(session_id=sid, order_ref=ref, delay=delay):
                self._submit(lambda: self._poll(sid, ref, delay))
            case fx.CancelLogin(order_ref=ref):
                self._submit(lambda: self._cancel(ref))
            case fx.UnlockWithService():
                self._submit(
                    lambda: self.card.unlock_with_service(
                        effect,
                        self.service,
                        safety_margin=self.config.puk_margin,
                        cancelled=lambda: self._current_session() != effect.session_id,
                    )
                )
            case fx.UnlockWithPuk():
                self._submit(
                    lambda: self.card.unlock_with_puk(effect, safety_margin=self.config.puk_margin)
                )
            case fx.ResolveUnlock():
                self._submit(lambda: self.card.resolve_unlock(effect, self.service))

    def _publish(self, report: fx.Report) -> None:
        """Stamp a report and hand it to the sink (which must not block: see event_sink)."""
        stamped = SessionReport.of(
            report, kiosk_id=self.kiosk_id, incarnation=self.incarnation, at=self.wall_clock()
        )
        try:
            self.sink(stamped)
        except Exception:
            log.exception("event sink refused a %s report", report.kind)

    def _start_login(self, sid: int, card_number: str) -> ev.Event:
        try:
            start = self.service.start_login(card_number)
        except CardServiceError as error:
            return ev.ServiceRefused(sid, service_reason(error))
        remaining = (start.expires_at - self.wall_clock()).total_seconds()
        return ev.LoginStarted(
            sid,
            LoginInfo(
                order_ref=start.order_ref,
                qr_prefix=start.qr_prefix,
                qr_start_token=start.qr_start_token,
                qr_start_secret=start.qr_start_secret,
                expires_at=self.clock() + max(0.0, remaining),
                poll_interval=start.poll_interval,
            ),
        )

    def _poll(self, sid: int, order_ref: str, delay: float) -> ev.Event | None:
        if self._stop.wait(delay) or self._current_session() != sid:
            return None  # session over: stop polling
        try:
            status = self.service.poll_login(order_ref)
        except CardServiceError as error:
            return ev.ServiceRefused(sid, service_reason(error))
        return ev.LoginUpdate(sid, status.status, status.hint_code)

    def _cancel(self, order_ref: str) -> None:
        try:
            self.service.cancel_login(order_ref)
        except CardServiceError as error:
            log.info("could not cancel login %s: %s", order_ref, error)
