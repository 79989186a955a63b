"""The card service's state, in SQLite (one file, the default) or PostgreSQL (several instances).

One code path for both through SQLAlchemy Core. Every change the service makes is one
:meth:`Store.transaction`: the decisions in :mod:`cardservice.service` read and write
through the :class:`Records` it yields, and either all of it is kept or none.
Updates that decide a race are conditional (``... WHERE outcome IS NULL``) and say
whether they won, so two instances never record the same thing twice.

SQLite: WAL, ``synchronous=FULL`` (a committed outcome survives a power cut),
``BEGIN IMMEDIATE`` for writes (no deadlock between two writers), the file and its
``-wal``/``-shm`` companions 0600 in a 0700 folder (they hold personal identity numbers).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from cardservice.migrations import migrate
from cardservice.records import Records

__all__ = ["Records", "Store", "private_folder", "sqlite_url"]

#: Milliseconds a SQLite writer waits for another's transaction before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def private_folder(path: Path) -> Path:
    """``path`` as a folder only its owner can enter (created if missing)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def _private_file(path: Path) -> None:
    """Create ``path`` 0600 before SQLite does, so it and its companions are never 0644."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(descriptor)
    path.chmod(0o600)
    for companion in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        if companion.exists():
            companion.chmod(0o600)


def sqlite_url(path: Path) -> str:
    """The database URL of a SQLite file."""
    return f"sqlite:///{path}"


def _sqlite_engine(url: str, pool_size: int) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        _private_file(Path(database))
    engine = create_engine(url, pool_size=pool_size, max_overflow=4, pool_timeout=60)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]  # we BEGIN ourselves
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
            "PRAGMA foreign_keys=ON",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        reading = connection.get_execution_options().get("read_only", False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    return engine


class Store:
    """The database: migrated on opening, then used through transactions."""

    def __init__(self, url: str | Path, *, pool_size: int = 8) -> None:
        text_url = sqlite_url(Path(url)) if isinstance(url, Path) else url
        self.dialect = make_url(text_url).get_backend_name()
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(text_url, pool_size)
        else:
            self.engine = create_engine(
                text_url, pool_size=pool_size, max_overflow=4, pool_pre_ping=True
            )
        migrate(self.engine)
        # SQLite has one writer at a time; writers wait here, in turn, instead of in
        # SQLite's busy handler, which sleeps in steps of up to 100 ms and so starves them.
        self._one_writer = threading.Lock() if self.dialect == "sqlite" else nullcontext()

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Records]:
        """One atomic change: committed when the block ends, rolled back if it raises."""
        with self._one_writer, self.engine.begin() as connection:
            yield Records(connection)

    @contextmanager
    def reading(self) -> Iterator[Records]:
        """A consistent read that takes no write lock (SQLite: a deferred transaction)."""
        with self.engine.connect() as connection:
            connection = connection.execution_options(read_only=True)
            with connection.begin():
                yield Records(connection)

    # -- conveniences for the command line and the tests (one transaction each) ----------

    def __getattr__(self, name: str) -> object:
        """``store.card(...)``, ``store.audit_log()`` ...: one :class:`Records` call, committed."""
        if name.startswith("_") or not hasattr(Records, name):
            raise AttributeError(name)

        def call(*args: object, **kwargs: object) -> object:
            with self.transaction() as records:
                return getattr(records, name)(*args, **kwargs)

        return call
