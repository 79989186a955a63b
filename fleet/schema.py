"""The fleet's tables as SQLAlchemy Core metadata: one definition for SQLite and PostgreSQL.

Times are epoch seconds (floating point), so both databases compare them alike.
Alembic (``fleet/migrations``) creates and changes these tables; a test compares
the migrated database with this metadata, so the two cannot drift.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

#: One row per kiosk: what the newest messages said, and the judged status.
kiosks = Table(
    "kiosks",
    metadata,
    Column("kiosk_id", String(64), primary_key=True),
    Column("site", Text),
    Column("location", Text),
    Column("software", Text),
    Column("incarnation", Integer, nullable=False, server_default=text("0")),
    Column("state", String(16)),  # the last state message: online, offline, lost
    Column("state_at", Float),
    Column("maintenance", Boolean, nullable=False, server_default=text("false")),
    Column("health_interval", Float),
    Column("config", Text),  # the birth's settings, JSON
    Column("status", String(16), nullable=False),  # online, maintenance, offline
    Column("status_since", Float, nullable=False),
    Column("status_reason", Text),
    Column("last_seen", Float, nullable=False),
    Column("last_health", Text),  # the newest health sample, JSON as received
    Column("last_health_at", Float),
    Column("prior_health", Text),  # the sample before it: a fault must show in two
    Column("out_of_service", Text),  # the reason while the kiosk says it is out of service
    Column("service_mark", BigInteger, nullable=False, server_default=text("0")),
    Column("failed_run", Integer, nullable=False, server_default=text("0")),
    Column("updated", Float, nullable=False),
    Index("kiosks_site", "site"),
    Index("kiosks_status", "status"),
    Index("kiosks_updated", "updated"),
)

#: Health history (a narrow row per sample; thinned and expired by retention).
health = Table(
    "health",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kiosk_id", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("incarnation", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("uptime_s", Float),
    Column("load1", Float),
    Column("memory_available_mb", Float),
    Column("disk_free_mb", Float),
    Column("cpu_temperature_c", Float),
    Column("card_service_latency_ms", Float),
    Column("outbox_depth", Integer),
    Column("reader_present", Boolean),
    Column("card_service_up", Boolean),
    Column("throttled", Boolean),
    Index("health_kiosk_at", "kiosk_id", "at"),
    Index("health_sample", "kiosk_id", "incarnation", "seq", unique=True),
    Index("health_at", "at"),
)

#: Every event once: a repeat (same kiosk, same id) is dropped on arrival.
events = Table(
    "events",
    metadata,
    Column("kiosk_id", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("at", Float, nullable=False),
    Column("received", Float, nullable=False),
    Column("incarnation", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("session", String(200)),
    Column("card", String(64)),
    Column("reason", String(64)),
    Column("outcome", String(16)),
    Column("mechanism", String(200)),
    Column("tries_left", Integer),
    Column("duration_s", Float),
    Column("detail", Text),
    Index("events_kiosk_at", "kiosk_id", "at"),
    Index("events_at", "at"),
    Index("events_card", "card"),
)

#: Unlocks per kiosk per local day, counted as each new event is stored.
daily = Table(
    "daily",
    metadata,
    Column("kiosk_id", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("succeeded", Integer, nullable=False, server_default=text("0")),
    Column("failed", Integer, nullable=False, server_default=text("0")),
)

#: Alerts: raised, then cleared; at most one open per kiosk and kind (a partial index).
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kiosk_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("detail", Text),
    Column("raised_at", Float, nullable=False),
    Column("cleared_at", Float),
    Column("changed", Float, nullable=False),
    Index(
        "alerts_one_open",
        "kiosk_id",
        "kind",
        unique=True,
        sqlite_where=text("cleared_at IS NULL"),
        postgresql_where=text("cleared_at IS NULL"),
    ),
    Index("alerts_changed", "changed"),
)

#: What to tell people of an alert: written with the alert, sent by the notifier.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, nullable=False),
    Column("transition", String(16), nullable=False),  # raised or cleared
    Column("channel", String(16), nullable=False),  # email or webhook
    Column("created", Float, nullable=False),
    Column("claimed_until", Float),
    Column("sent_at", Float),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Index("notifications_unsent", "sent_at", "id"),
)

users = Table(
    "users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # viewer or operator
    Column("password_hash", Text, nullable=False),
    Column("created", Float, nullable=False),
)

#: Signed-in sessions; the cookie holds the token, the table only its SHA-256.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_name", String(64), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created", Float, nullable=False),
    Column("last_used", Float, nullable=False),
    Index("sessions_user", "user_name"),
)

#: Browsers a user has signed in from (the device cookie's SHA-256): guessing elsewhere
#: does not pause sign-ins from them.
trusted_devices = Table(
    "trusted_devices",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_name", String(64), nullable=False),
    Column("created", Float, nullable=False),  # or when last signed in from, if later
    Index("trusted_devices_user", "user_name"),
)

#: Who did what: sign-ins, commands (and when the kiosk said it was done), user changes.
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("user_name", String(64)),
    Column("action", String(32), nullable=False),
    Column("kiosk_id", String(64)),
    Column("command_id", String(64)),
    Column("detail", Text),
    Column("done_at", Float),
    Index("audit_command", "command_id"),
    Index("audit_kiosk_at", "kiosk_id", "at"),
)

#: Enrolment tokens: the secret is never stored, only its SHA-256 (``token_hash``).
enrol_tokens = Table(
    "enrol_tokens",
    metadata,
    Column("id", String(16), primary_key=True),  # shown to operators; not the secret
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("site", Text, nullable=False),
    Column("kiosk_id", String(64)),  # the one kiosk it may enrol, if bound
    Column("location", Text),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
    Column("used_at", Float),
    Column("used_by", String(64)),
    Column("revoked_at", Float),
)

#: Every device certificate the fleet's CA issued, and its revocation.
device_certificates = Table(
    "device_certificates",
    metadata,
    Column("serial", String(40), primary_key=True),  # hex
    Column("kiosk_id", String(64), nullable=False),
    Column("issued_at", Float, nullable=False),
    Column("not_after", Float, nullable=False),
    Column("revoked_at", Float),
    Column("revoked_by", Text),
    Column("pem", Text, nullable=False),
    Index("device_certificates_kiosk", "kiosk_id"),
)
