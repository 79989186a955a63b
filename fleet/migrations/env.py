"""Alembic's environment: always online, on the connection :func:`fleet.database.migrate` holds.

That connection's transaction also holds the lock that keeps two fleet instances
from migrating at once, so this file opens no connection of its own.
"""

from __future__ import annotations

from alembic import context

from fleet.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
