"""The first schema: kiosks, health, events, daily counts, alerts, users, sessions, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_OPEN = sa.text("cleared_at IS NULL")


def upgrade() -> None:
    """Create the version-1 tables explicitly (later revisions alter them)."""
    op.create_table(
        "kiosks",
        sa.Column("kiosk_id", sa.String(64), primary_key=True),
        sa.Column("site", sa.Text),
        sa.Column("location", sa.Text),
        sa.Column("software", sa.Text),
        sa.Column("incarnation", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("state", sa.String(16)),
        sa.Column("state_at", sa.Float),
        sa.Column("maintenance", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("health_interval", sa.Float),
        sa.Column("config", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_since", sa.Float, nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("last_health", sa.Text),
        sa.Column("last_health_at", sa.Float),
        sa.Column("prior_health", sa.Text),
        sa.Column("out_of_service", sa.Text),
        sa.Column("service_mark", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("failed_run", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_index("kiosks_site", "kiosks", ["site"])
    op.create_index("kiosks_status", "kiosks", ["status"])
    op.create_index("kiosks_updated", "kiosks", ["updated"])
    op.create_table(
        "health",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kiosk_id", sa.String(64), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("incarnation", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("uptime_s", sa.Float),
        sa.Column("load1", sa.Float),
        sa.Column("memory_available_mb", sa.Float),
        sa.Column("disk_free_mb", sa.Float),
        sa.Column("cpu_temperature_c", sa.Float),
        sa.Column("card_service_latency_ms", sa.Float),
        sa.Column("outbox_depth", sa.Integer),
        sa.Column("reader_present", sa.Boolean),
        sa.Column("card_service_up", sa.Boolean),
        sa.Column("throttled", sa.Boolean),
    )
    op.create_index("health_kiosk_at", "health", ["kiosk_id", "at"])
    op.create_index("health_at", "health", ["at"])
    op.create_index("health_sample", "health", ["kiosk_id", "incarnation", "seq"], unique=True)
    op.create_table(
        "events",
        sa.Column("kiosk_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("received", sa.Float, nullable=False),
        sa.Column("incarnation", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("session", sa.String(200)),
        sa.Column("card", sa.String(64)),
        sa.Column("reason", sa.String(64)),
        sa.Column("outcome", sa.String(16)),
        sa.Column("mechanism", sa.String(200)),
        sa.Column("tries_left", sa.Integer),
        sa.Column("duration_s", sa.Float),
        sa.Column("detail", sa.Text),
    )
    op.create_index("events_kiosk_at", "events", ["kiosk_id", "at"])
    op.create_index("events_at", "events", ["at"])
    op.create_index("events_card", "events", ["card"])
    op.create_table(
        "daily",
        sa.Column("kiosk_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("succeeded", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("failed", sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kiosk_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("raised_at", sa.Float, nullable=False),
        sa.Column("cleared_at", sa.Float),
        sa.Column("changed", sa.Float, nullable=False),
    )
    op.create_index(
        "alerts_one_open",
        "alerts",
        ["kiosk_id", "kind"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )
    op.create_index("alerts_changed", "alerts", ["changed"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.Integer, nullable=False),
        sa.Column("transition", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("claimed_until", sa.Float),
        sa.Column("sent_at", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("notifications_unsent", "notifications", ["sent_at", "id"])
    op.create_table(
        "users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("last_used", sa.Float, nullable=False),
    )
    op.create_index("sessions_user", "sessions", ["user_name"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("user_name", sa.String(64)),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("kiosk_id", sa.String(64)),
        sa.Column("command_id", sa.String(64)),
        sa.Column("detail", sa.Text),
        sa.Column("done_at", sa.Float),
    )
    op.create_index("audit_command", "audit", ["command_id"])
    op.create_index("audit_kiosk_at", "audit", ["kiosk_id", "at"])


def downgrade() -> None:
    """Not supported: restore a backup to go back."""
    raise NotImplementedError
