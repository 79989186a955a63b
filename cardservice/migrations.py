"""Schema migrations: numbered steps, applied once each, in order, in one transaction.

Why our own few lines rather than a migration framework: the schema is a dozen tables
and both databases take the same DDL through SQLAlchemy; what matters is that every
instance applies the same steps exactly once, even when several start together
(PostgreSQL: an advisory lock held by the migrating transaction; SQLite: its write
lock), and that a program older than its database refuses to run on it.

Rule for later changes: a change to :mod:`cardservice.schema` comes with a new step
here (``ALTER TABLE ...``), and step 1 is then rewritten to create the version-1
tables explicitly, so a fresh database walks the same path as an old one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, Connection, Engine, Float, Integer, MetaData, Table, Text, text

from cardservice import schema

_bookkeeping = MetaData()
schema_migrations = Table(
    "schema_migrations",
    _bookkeeping,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("applied_at", Float, nullable=False),
)

#: Any number, the same in every instance: the key of PostgreSQL's advisory lock.
_LOCK_KEY = 0x51745


class MigrationError(Exception):
    """The database cannot be brought to this program's schema (say why)."""


@dataclass(frozen=True)
class Migration:
    """One step: its version, what it does, and the DDL."""

    version: int
    name: str
    apply: Callable[[Connection], None]


def _first_schema(connection: Connection) -> None:
    if "kiosks" in _existing_tables(connection):
        raise MigrationError(
            "the database was made by a version of the card service from before migrations;"
            " start from a new database"
        )
    schema.metadata.create_all(connection)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "kiosks, cards, logins, unlocks, attempts, idempotency, audit, outbox", _first_schema
    ),
)


def _existing_tables(connection: Connection) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(connection).get_table_names())


def applied_versions(connection: Connection) -> set[int]:
    """The versions already applied to this database."""
    if "schema_migrations" not in _existing_tables(connection):
        return set()
    return {row.version for row in connection.execute(schema_migrations.select())}


def migrate(engine: Engine) -> list[int]:
    """Apply the steps this database lacks; the versions applied now."""
    known = {step.version for step in MIGRATIONS}
    done: list[int] = []
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        _bookkeeping.create_all(connection)
        applied = applied_versions(connection)
        newer = applied - known
        if newer:
            raise MigrationError(
                f"the database has schema version {max(newer)}, newer than this program knows"
                f" ({max(known)}); run a newer card service"
            )
        for step in MIGRATIONS:
            if step.version in applied:
                continue
            step.apply(connection)
            connection.execute(
                schema_migrations.insert().values(
                    version=step.version, name=step.name, applied_at=time.time()
                )
            )
            done.append(step.version)
    return done
