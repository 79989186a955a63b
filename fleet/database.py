"""The fleet's database: SQLite in one file by default, PostgreSQL for large fleets.

One code path for both through SQLAlchemy Core. Opening migrates with Alembic
(``fleet/migrations``) under a lock, so several fleet instances may start together:
on PostgreSQL an advisory lock held by the migrating transaction, on SQLite its
write lock (``BEGIN IMMEDIATE``). A database newer than this program is refused.

SQLite runs in WAL mode with ``synchronous=FULL``: ingest acknowledges a message to
the broker only after the transaction holding it is committed, so a power cut loses
nothing the broker was told is safe. The file is 0600 (it holds who signed in).
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

#: Milliseconds a SQLite writer waits for another's transaction before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Any number, the same in every instance: the key of PostgreSQL's advisory lock.
_LOCK_KEY = 0xF1EE7
_SCRIPTS = Path(__file__).resolve().parent / "migrations"


class MigrationError(Exception):
    """The database cannot be brought to this program's schema (the message says why)."""


def sqlite_url(path: Path) -> str:
    """The database URL of a SQLite file."""
    return f"sqlite:///{path}"


def _private_file(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite does, its companions too if present."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(descriptor)
    path.chmod(0o600)
    for companion in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        if companion.exists():
            companion.chmod(0o600)


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
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        reading = connection.get_execution_options().get("read_only", False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    return engine


def open_engine(url: str | Path, *, pool_size: int = 8) -> Engine:
    """An engine for a URL (``postgresql+psycopg://...``) or a SQLite file's path."""
    text_url = sqlite_url(Path(url)) if isinstance(url, Path) else url
    if make_url(text_url).get_backend_name() == "sqlite":
        return _sqlite_engine(text_url, pool_size)
    return create_engine(text_url, pool_size=pool_size, max_overflow=4, pool_pre_ping=True)


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this program knows."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision (``None``: not migrated yet)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False


def migrate(engine: Engine) -> None:
    """Bring the database to this program's schema, one instance at a time."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        config = _alembic_config(connection)
        known = ScriptDirectory.from_config(config)
        current = MigrationContext.configure(connection).get_current_revision()
        if current is not None and not _known(known, current):
            raise MigrationError(
                f"the database has schema revision {current}, newer than this program knows"
                f" ({known.get_current_head()}); run a newer fleet server"
            )
        command.upgrade(config, "head")
