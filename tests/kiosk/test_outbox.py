"""The durable queue: order, acknowledgement, restarts, a bound that never drops an event
silently, and a locked or full disk that is reported instead of crashing."""

from __future__ import annotations

import sqlite3
import stat

import pytest

from kiosk.outbox import Outbox, OutboxError, OutboxFull


def test_messages_come_out_in_order_and_leave_only_when_acknowledged(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    seqs = [box.put("event", f"e{i}".encode()) for i in range(5)]
    assert [e.payload for e in box.after(0, 10)] == [b"e0", b"e1", b"e2", b"e3", b"e4"]
    box.ack(seqs[1])
    assert [e.seq for e in box.after(0, 10)] == [seqs[0], *seqs[2:]]
    assert [e.seq for e in box.after(seqs[2], 10)] == seqs[3:]
    assert box.depth() == 4


def test_what_was_not_acknowledged_is_there_after_a_restart(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    first = box.put("event", b"kept")
    box.put("event", b"gone")
    box.ack(first + 1)
    box.close()
    again = Outbox(tmp_path / "o.sqlite3")
    assert [(e.seq, e.payload) for e in again.after(0, 10)] == [(first, b"kept")]
    assert again.put("event", b"new") > first + 1  # numbers are never reused


def test_the_incarnation_grows_with_every_start(tmp_path):
    assert Outbox(tmp_path / "o.sqlite3").increment("incarnation") == 1
    assert Outbox(tmp_path / "o.sqlite3").increment("incarnation") == 2


def test_a_full_outbox_thins_health_and_never_drops_an_event_silently(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3", capacity=6)
    for i in range(4):
        box.put("health", f"h{i}".encode(), thinnable=True)
    box.put("event", b"e0")
    box.put("event", b"e1")
    box.put("event", b"e2")  # full: the older half of the health samples makes room
    assert [e.payload for e in box.after(0, 10)] == [b"h2", b"h3", b"e0", b"e1", b"e2"]
    for name in (b"e3", b"e4", b"e5"):
        box.put("event", name)  # each takes the place of the oldest health sample left
    assert [e.payload for e in box.after(0, 10)] == [b"e0", b"e1", b"e2", b"e3", b"e4", b"e5"]
    assert box.counter("thinned") == 4
    with pytest.raises(OutboxFull):
        box.put("event", b"e6")  # nothing left to thin: refused, for the caller to count
    assert box.depth() == 6 and b"e6" not in [e.payload for e in box.after(0, 10)]


def test_a_locked_database_is_an_error_to_report_not_a_crash(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3", timeout=0.2)
    other = sqlite3.connect(tmp_path / "o.sqlite3", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(OutboxError, match="cannot be used"):
        box.put("event", b"e")
    other.execute("ROLLBACK")
    assert box.put("event", b"e") > 0  # and it works again at once


def test_the_file_is_readable_by_the_kiosk_alone(tmp_path):
    box = Outbox(tmp_path / "state" / "o.sqlite3")
    box.put("event", b"e")
    assert stat.S_IMODE((tmp_path / "state" / "o.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700


def test_an_unopenable_file_says_which(tmp_path):
    (tmp_path / "dir.sqlite3").mkdir()
    with pytest.raises(OutboxError, match=r"dir\.sqlite3"):
        Outbox(tmp_path / "dir.sqlite3")


def test_an_unreadable_outbox_is_moved_aside_and_a_new_one_started(tmp_path):
    (tmp_path / "o.sqlite3").write_bytes(b"this was never a database " * 100)
    box = Outbox(tmp_path / "o.sqlite3")
    assert box.recovered_from is not None and box.recovered_from.exists()
    assert box.put("event", b"e") > 0  # and it works


def test_a_place_where_no_outbox_can_be_made_is_an_error_not_a_crash(tmp_path):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(OutboxError, match="cannot be made"):
        Outbox(tmp_path / "a-file" / "o.sqlite3")
