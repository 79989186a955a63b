r"""Watches PC/SC readers and cards and reports changes as typed events.

Built on ``SCardGetStatusChange`` with a finite timeout and the
``\\?PnP?\Notification`` pseudo-reader (so readers plugged in or out wake
us). Unlike pyscard's ``CardMonitor``, it survives pcscd stopping or
restarting: it drops the dead context, reports :attr:`EventKind.SERVICE_LOST`
(and the removal of every card and reader it knew), re-establishes the context
with exponential backoff, then reports :attr:`EventKind.SERVICE_RESTORED` and
the readers and cards that are present.

The decisions (which events a new snapshot implies) are the pure function
:func:`diff_snapshots`; the loop around it does the PC/SC I/O.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from smartcard import scard

from hw import pcsc
from hw.errors import CardError, PcscUnavailable
from hw.reader_events import EventKind, ReaderEvent

log = logging.getLogger(__name__)

PNP_READER = "\\\\?PnP?\\Notification"

EventSink = Callable[[ReaderEvent], None]


@dataclass(frozen=True)
class SlotState:
    """What we know about one reader: card present, its ATR, pcscd's event counter."""

    present: bool
    atr: bytes = b""
    counter: int = 0


def diff_snapshots(old: dict[str, SlotState], new: dict[str, SlotState]) -> list[ReaderEvent]:
    """Events that turn ``old`` into ``new`` (pure; ordered: removals before additions)."""
    events: list[ReaderEvent] = []
    for reader, before in old.items():
        after = new.get(reader)
        if after is None:
            if before.present:
                events.append(ReaderEvent(EventKind.CARD_REMOVED, reader))
            events.append(ReaderEvent(EventKind.READER_REMOVED, reader))
        elif before.present and (
            not after.present or after.counter != before.counter or after.atr != before.atr
        ):
            # A changed counter with a card on both sides: removed and reinserted unseen.
            events.append(ReaderEvent(EventKind.CARD_REMOVED, reader))
    for reader, after in new.items():
        before = old.get(reader)
        if before is None:
            events.append(ReaderEvent(EventKind.READER_ADDED, reader))
        if after.present and (
            before is None
            or not before.present
            or after.counter != before.counter
            or after.atr != before.atr
        ):
            events.append(ReaderEvent(EventKind.CARD_INSERTED, reader, after.atr))
    return events


def _slot_state(event_state: int, atr: list[int] | bytes) -> SlotState:
    present = bool(event_state & scard.SCARD_STATE_PRESENT) and not (
        event_state & scard.SCARD_STATE_MUTE
    )
    return SlotState(present, bytes(atr) if present else b"", (event_state >> 16) & 0xFFFF)


class ReaderWatcher:
    """Runs the watch loop on its own thread and hands events to ``sink``.

    ``sink`` is called on the watcher thread; hand events to a queue or the
    UI's main loop from there. ``poll_ms`` bounds every wait so :meth:`stop`
    and pcscd restarts are noticed promptly even if no event arrives.
    ``heartbeat`` is called on every turn of the loop (at least every
    ``poll_ms`` plus ``backoff_max``), so a watchdog can tell the watcher is alive.
    """

    def __init__(
        self,
        sink: EventSink,
        *,
        poll_ms: int = 1000,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        heartbeat: Callable[[], None] = lambda: None,
    ) -> None:
        self._sink = sink
        self._heartbeat = heartbeat
        self._poll_ms = poll_ms
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._context: int | None = None
        self._context_lock = threading.Lock()
        self._known: dict[str, SlotState] = {}
        self._service_up: bool | None = None

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        """Start watching on a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("watcher already started")
        self._thread = threading.Thread(target=self._run, name="reader-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and wait for the thread to end."""
        self._stop.set()
        with self._context_lock:
            if self._context is not None:
                scard.SCardCancel(self._context)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def snapshot(self) -> dict[str, SlotState]:
        """The last known state of every reader (a copy)."""
        return dict(self._known)

    # -- loop -----------------------------------------------------------------

    def _emit(self, events: list[ReaderEvent]) -> None:
        for event in events:
            log.info("reader event: %s %s", event.kind.value, event.reader)
            try:
                self._sink(event)
            except Exception:  # a faulty consumer must not kill the watcher
                log.exception("reader event consumer failed on %s", event)

    def _release_context(self) -> None:
        with self._context_lock:
            context, self._context = self._context, None
        if context is not None:
            scard.SCardReleaseContext(context)

    def _service_lost(self) -> None:
        self._release_context()
        if self._service_up is not False:
            self._service_up = False
            events = [ReaderEvent(EventKind.SERVICE_LOST)]
            events += diff_snapshots(self._known, {})
            self._known = {}
            self._emit(events)

    def _run(self) -> None:
        delay = self._backoff_initial
        while not self._stop.is_set():
            self._heartbeat()
            if self._context is None:
                hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
                if hresult != scard.SCARD_S_SUCCESS:
                    self._service_lost()
                    self._stop.wait(delay)
                    delay = min(delay * 2, self._backoff_max)
                    continue
                with self._context_lock:
                    self._context = context
                if self._service_up is False:
                    self._emit([ReaderEvent(EventKind.SERVICE_RESTORED)])
                self._service_up = True
                delay = self._backoff_initial
            try:
                self._watch_once()
            except _ServiceGone:
                self._service_lost()
        self._release_context()

    def _watch_once(self) -> None:
        context = self._context
        assert context is not None
        try:
            readers = pcsc.list_readers(context)
        except PcscUnavailable:
            raise _ServiceGone() from None
        except CardError as error:
            log.warning("listing readers failed: %s", error)
            readers = []
        current = {name: self._known.get(name, SlotState(False)) for name in readers}
        # Readers that vanished since the last round are reported now.
        if set(current) != set(self._known):
            refreshed = self._query(context, readers)
            self._emit(diff_snapshots(self._known, refreshed))
            self._known = refreshed
        states = [(name, self._encode(self._known[name])) for name in readers]
        states.append((PNP_READER, self._pnp_state(len(readers))))
        hresult, new_states = scard.SCardGetStatusChange(context, self._poll_ms, states)
        if pcsc.is_service_lost(hresult):
            raise _ServiceGone()
        code = hresult & 0xFFFFFFFF
        if code in (scard.SCARD_E_TIMEOUT & 0xFFFFFFFF, scard.SCARD_E_CANCELLED & 0xFFFFFFFF):
            return
        if code == scard.SCARD_E_UNKNOWN_READER & 0xFFFFFFFF:
            return  # a reader vanished between listing and waiting; re-list
        if hresult != scard.SCARD_S_SUCCESS:
            log.warning("SCardGetStatusChange returned 0x%08X", code)
            self._stop.wait(self._backoff_initial)
            return
        updated = dict(self._known)
        for name, event_state, atr in new_states:
            if name == PNP_READER or name not in updated:
                continue
            if event_state & scard.SCARD_STATE_CHANGED:
                updated[name] = _slot_state(event_state, atr)
        self._emit(diff_snapshots(self._known, updated))
        self._known = updated

    def _query(self, context: int, readers: list[str]) -> dict[str, SlotState]:
        if not readers:
            return {}
        states = [(name, scard.SCARD_STATE_UNAWARE) for name in readers]
        hresult, new_states = scard.SCardGetStatusChange(context, 0, states)
        if pcsc.is_service_lost(hresult):
            raise _ServiceGone()
        if hresult != scard.SCARD_S_SUCCESS:
            return {name: SlotState(False) for name in readers}
        return {name: _slot_state(event, atr) for name, event, atr in new_states}

    @staticmethod
    def _encode(state: SlotState) -> int:
        """The "current state" we tell pcscd we believe in, counter included."""
        flags = scard.SCARD_STATE_PRESENT if state.present else scard.SCARD_STATE_EMPTY
        return flags | (state.counter << 16)

    @staticmethod
    def _pnp_state(reader_count: int) -> int:
        # pcsc-lite keeps the reader count in the upper 16 bits of the PnP state.
        return reader_count << 16


class _ServiceGone(Exception):
    """pcscd went away under the watch loop."""
