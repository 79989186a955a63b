"""The reader watcher on real pcscd: card events, and surviving a pcscd restart."""

from __future__ import annotations

import pytest

from hw.reader_events import EventKind, ReaderEvent
from hw.reader_watcher import ReaderWatcher, SlotState, diff_snapshots
from tests.harness.events import EventRecorder, is_kind

K = EventKind


@pytest.fixture
def watcher_events():
    recorder = EventRecorder()
    watcher = ReaderWatcher(recorder, poll_ms=300, backoff_initial=0.05, backoff_max=0.5)
    watcher.start()
    yield recorder
    watcher.stop()


# -- pure decisions ----------------------------------------------------------


def test_diff_reports_new_reader_and_its_card():
    events = diff_snapshots({}, {"R": SlotState(True, b"\x3b", 1)})
    assert events == [ReaderEvent(K.READER_ADDED, "R"), ReaderEvent(K.CARD_INSERTED, "R", b"\x3b")]


def test_diff_reports_card_and_reader_gone():
    events = diff_snapshots({"R": SlotState(True, b"\x3b", 1)}, {})
    assert [e.kind for e in events] == [K.CARD_REMOVED, K.READER_REMOVED]


def test_diff_sees_a_quick_swap_through_the_event_counter():
    old = {"R": SlotState(True, b"\x3b", 4)}
    new = {"R": SlotState(True, b"\x3b", 6)}
    assert [e.kind for e in diff_snapshots(old, new)] == [K.CARD_REMOVED, K.CARD_INSERTED]


def test_diff_is_quiet_when_nothing_changed():
    state = {"R": SlotState(True, b"\x3b", 4), "S": SlotState(False)}
    assert diff_snapshots(state, dict(state)) == []


# -- real pcscd ---------------------------------------------------------------


@pytest.mark.pcsc
def test_reports_readers_then_card_insert_and_remove(pcscd, make_piv_slot, watcher_events):
    watcher_events.wait_for(is_kind(K.READER_ADDED, pcscd.reader(0)))
    watcher_events.wait_for(is_kind(K.READER_ADDED, pcscd.reader(1)))
    mark = watcher_events.mark()
    slot = make_piv_slot()
    inserted = watcher_events.wait_for(is_kind(K.CARD_INSERTED, slot.reader), after=mark)
    assert inserted.atr == slot.card.atr
    mark = watcher_events.mark()
    slot.remove()
    watcher_events.wait_for(is_kind(K.CARD_REMOVED, slot.reader), after=mark)


@pytest.mark.pcsc
def test_card_already_present_is_reported_at_start(pcscd, make_piv_slot):
    slot = make_piv_slot()
    recorder = EventRecorder()
    watcher = ReaderWatcher(recorder, poll_ms=300)
    watcher.start()
    try:
        event = recorder.wait_for(is_kind(K.CARD_INSERTED, slot.reader))
        assert event.atr == slot.card.atr
    finally:
        watcher.stop()


@pytest.mark.pcsc
def test_survives_pcscd_restart_and_reports_the_card(pcscd, make_piv_slot, watcher_events):
    slot = make_piv_slot()
    watcher_events.wait_for(is_kind(K.CARD_INSERTED, slot.reader))
    mark = watcher_events.mark()
    pcscd.restart()
    watcher_events.wait_for(is_kind(K.SERVICE_LOST), after=mark)
    restored_at = watcher_events.events.index(
        watcher_events.wait_for(is_kind(K.SERVICE_RESTORED), after=mark)
    )
    # The card never left the reader; after the restart it is reported again,
    # so a consumer knows to open a new connection.
    watcher_events.wait_for(is_kind(K.CARD_INSERTED, slot.reader), after=restored_at)
    kinds = watcher_events.kinds(mark)
    assert kinds.index((K.CARD_REMOVED, slot.reader)) < kinds.index((K.SERVICE_RESTORED, ""))
    # ... and the watcher keeps working: a removal after the restart is seen.
    mark = watcher_events.mark()
    slot.remove()
    watcher_events.wait_for(is_kind(K.CARD_REMOVED, slot.reader), after=mark)


@pytest.mark.pcsc
def test_reports_service_down_while_pcscd_is_stopped(pcscd, watcher_events):
    watcher_events.wait_for(is_kind(K.READER_ADDED, pcscd.reader(0)))
    mark = watcher_events.mark()
    pcscd.stop()
    try:
        watcher_events.wait_for(is_kind(K.SERVICE_LOST), after=mark)
        watcher_events.wait_for(is_kind(K.READER_REMOVED, pcscd.reader(0)), after=mark)
    finally:
        pcscd.restart()
    watcher_events.wait_for(is_kind(K.SERVICE_RESTORED), after=mark)
    watcher_events.wait_for(is_kind(K.READER_ADDED, pcscd.reader(0)), after=mark)
