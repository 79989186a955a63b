"""A durable first-in-first-out queue on disk: nothing the kiosk must send is lost to a crash.

Telemetry writes every event here before it publishes it and deletes it only
when the broker has acknowledged it; after a reconnect, a restart or a power cut
the rest goes out in the order it was written. Card-service outcome reports use
the same queue in a file of their own (:mod:`kiosk.outcome_reports`). SQLite in
WAL mode with ``synchronous=FULL``: a message :meth:`Outbox.put` returned from
survives a power cut.

The queue is bounded. When it is full, the oldest *thinnable* messages (health
samples) go first, half of them at a time; messages that may not be thinned
(events) are never dropped: a put that cannot be kept raises
:class:`OutboxFull`, and the caller counts and reports it. A database that is
locked, unreadable or on a full disk raises :class:`OutboxError` the same way;
the kiosk keeps serving staff either way.

The file holds no personal data (events carry a card hash, never a name or a
personal identity number) but is still made 0600 in a 0700 folder.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL,
    thinnable INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class OutboxError(Exception):
    """The queue's database could not be used (locked, unreadable, disk full)."""


class OutboxFull(OutboxError):
    """The queue is full of messages that may not be thinned; this one was not kept."""


@dataclass(frozen=True)
class Entry:
    """One queued message: ``seq`` orders it and names it for :meth:`Outbox.ack`."""

    seq: int
    kind: str
    payload: bytes


class Outbox:
    """The queue in one SQLite file; safe to use from several threads."""

    def __init__(self, path: Path, *, capacity: int = 100_000, timeout: float = 2.0) -> None:
        if capacity < 2:
            raise ValueError("an outbox holds at least two messages")
        self.path = path
        self.capacity = capacity
        #: Where an unreadable outbox was moved aside at start (a fresh one took its place).
        self.recovered_from: Path | None = None
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not path.exists():
                path.touch(mode=0o600)
            os.chmod(path, 0o600)
        except OSError as error:
            raise OutboxError(f"the outbox {path} cannot be made: {error}") from None
        try:
            self._db = self._open(timeout)
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError):  # locked, unreadable, no room
                raise OutboxError(f"the outbox {path} cannot be opened: {error}") from None
            # Not a database (a torn or foreign file): keep it for a person, start afresh.
            aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
            try:
                path.rename(aside)
                path.touch(mode=0o600)
                self._db = self._open(timeout)
            except (OSError, sqlite3.Error) as again:
                raise OutboxError(f"the outbox {path} cannot be opened: {again}") from None
            self.recovered_from = aside
        self._count = int(self._run("SELECT COUNT(*) FROM messages").fetchone()[0])
        for suffix in ("-wal", "-shm"):
            sidecar = path.with_name(path.name + suffix)
            if sidecar.exists():
                os.chmod(sidecar, 0o600)

    def _open(self, timeout: float) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        return db

    def close(self) -> None:
        """Close the database (queued messages stay on disk)."""
        with self._lock:
            self._db.close()

    def _run(self, statement: str, arguments: tuple[object, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(statement, arguments)
        except sqlite3.Error as error:
            raise OutboxError(f"the outbox {self.path} cannot be used: {error}") from None

    def put(self, kind: str, payload: bytes, *, thinnable: bool = False) -> int:
        """Queue a message durably; its sequence number. Raises OutboxFull / OutboxError."""
        return self.put_many([(kind, payload, thinnable)])[0]

    def put_many(self, messages: list[tuple[str, bytes, bool]]) -> list[int]:
        """Queue ``(kind, payload, thinnable)`` messages in one durable transaction (one fsync).

        All or nothing: when the last one does not fit, none is kept (OutboxFull).
        """
        with self._lock:
            self._run("BEGIN IMMEDIATE")
            try:
                seqs = []
                for kind, payload, thinnable in messages:
                    if self._count + len(seqs) >= self.capacity:
                        self._thin()
                        if self._count + len(seqs) >= self.capacity:
                            raise OutboxFull(f"the outbox holds {self.capacity} messages already")
                    seqs.append(
                        int(
                            self._run(
                                "INSERT INTO messages (kind, payload, thinnable) VALUES (?, ?, ?)",
                                (kind, payload, int(thinnable)),
                            ).lastrowid
                            or 0
                        )
                    )
                self._run("COMMIT")
            except BaseException:
                self._rollback()
                self._count = self._depth_on_disk()
                raise
            self._count += len(seqs)
        return seqs

    def _rollback(self) -> None:
        # Nothing begun, or the connection gone: then there is nothing to undo.
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")

    def _depth_on_disk(self) -> int:
        try:
            return int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
        except sqlite3.Error:
            return self._count

    def _thin(self) -> None:
        """Drop the oldest half of the thinnable messages, and count them."""
        thinnable = int(self._run("SELECT COUNT(*) FROM messages WHERE thinnable").fetchone()[0])
        drop = max(1, thinnable // 2) if thinnable else 0
        if not drop:
            return
        self._run(
            "DELETE FROM messages WHERE seq IN"
            " (SELECT seq FROM messages WHERE thinnable ORDER BY seq LIMIT ?)",
            (drop,),
        )
        self._count -= drop
        self._add("thinned", drop)

    def _add(self, name: str, amount: int) -> int:
        self._run(
            "INSERT INTO counters (name, value) VALUES (?, ?)"
            " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, amount),
        )
        return int(self._run("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0])

    def after(self, seq: int, limit: int) -> list[Entry]:
        """Up to ``limit`` queued messages after ``seq``, oldest first."""
        with self._lock:
            rows = self._run(
                "SELECT seq, kind, payload FROM messages WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        return [Entry(int(s), str(k), bytes(p)) for s, k, p in rows]

    def ack(self, seq: int) -> None:
        """The message was delivered: forget it."""
        self.ack_many([seq])

    def ack_many(self, seqs: list[int]) -> None:
        """Messages delivered: forget them, in one transaction (a lost ack only repeats one)."""
        if not seqs:
            return
        with self._lock:
            self._run("BEGIN IMMEDIATE")
            try:
                deleted = self._db.executemany(
                    "DELETE FROM messages WHERE seq = ?", [(seq,) for seq in seqs]
                ).rowcount
                self._run("COMMIT")
            except sqlite3.Error as error:
                self._rollback()
                raise OutboxError(f"the outbox {self.path} cannot be used: {error}") from None
            self._count -= max(0, deleted)

    def depth(self) -> int:
        """How many messages wait."""
        with self._lock:
            return self._count

    def counter(self, name: str) -> int:
        """A persistent counter's value (``thinned``, or one :meth:`increment` keeps)."""
        with self._lock:
            row = self._run("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def set_counter(self, name: str, value: int) -> None:
        """Keep a value under ``name`` (the incarnation, the maintenance flag)."""
        with self._lock:
            self._run(
                "INSERT INTO counters (name, value) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def increment(self, name: str) -> int:
        """Add one to a persistent counter; the new value (e.g. the kiosk's incarnation)."""
        with self._lock:
            self._run("BEGIN IMMEDIATE")
            try:
                value = self._add(name, 1)
                self._run("COMMIT")
            except BaseException:
                self._rollback()
                raise
        return value
