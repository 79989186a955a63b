"""The card service's tables, as SQLAlchemy Core metadata: one definition for SQLite and PostgreSQL.

Times are epoch seconds (floating point), so both databases compare them the same
way. :mod:`cardservice.migrations` creates and changes these tables; this module
only names them for the queries in :mod:`cardservice.store`.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

kiosks = Table(
    "kiosks",
    metadata,
    Column("kiosk_id", String(200), primary_key=True),
    Column("location", Text, nullable=False),
    Column("revoked_at", Float),
)

cards = Table(
    "cards",
    metadata,
    Column("card_number", String(20), primary_key=True),
    Column("holder_name", Text, nullable=False),
    Column("hsa_id", Text, nullable=False),
    Column("personal_identity_number", String(12), nullable=False),
    Column("email", Text, nullable=False),
    Column("product_code", Text, nullable=False),
    Column("mechanism", String(16), nullable=False),
    Column("secret_sealed", LargeBinary, nullable=False),
    CheckConstraint("mechanism IN ('puk', 'admin-key')", name="cards_mechanism"),
)

logins = Table(
    "logins",
    metadata,
    Column("order_ref", String(64), primary_key=True),
    Column("idp_order_ref", Text, nullable=False),
    Column("kiosk_id", String(200), nullable=False),
    Column("card_number", String(20), nullable=False),
    Column("person", String(12), nullable=False),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("hint", String(32)),
    Column("completed_by", String(12)),
    Column("completed_name", Text),
    Column("completed_hsa_id", Text),
    Column("credential_issued", Boolean, nullable=False, default=False),
    Index("logins_person", "person", "status"),
    Index("logins_kiosk_created", "kiosk_id", "created"),
)

unlocks = Table(
    "unlocks",
    metadata,
    Column("unlock_id", String(64), primary_key=True),
    Column("order_ref", String(64), nullable=False, unique=True),
    Column("kiosk_id", String(200), nullable=False),
    Column("card_number", String(20), nullable=False),
    Column("pin_role", String(32), nullable=False),
    Column("mechanism", String(16), nullable=False),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
    Column("outcome", String(16)),
    Column("outcome_at", Float),
    Column("outcome_by", String(16)),  # 'kiosk' or 'timeout'
    Index("unlocks_waiting", "outcome", "created"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_number", String(20), nullable=False),
    Column("kiosk_id", String(200), nullable=False),
    Column("at", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Index("attempts_card", "card_number", "at"),
)

idempotency = Table(
    "idempotency",
    metadata,
    Column("kiosk_id", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("at", Float, nullable=False),
    Index("idempotency_at", "at"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("kiosk_id", String(200)),
    Column("card_number", String(20)),
    Column("order_ref", String(64)),
    Column("unlock_id", String(64)),
    Column("event", String(64), nullable=False),
    Column("detail", Text),
)

mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created", Float, nullable=False),
    Column("message_id", Text, nullable=False, unique=True),
    Column("recipient", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("unlock_id", String(64)),
    Column("sent_at", Float),
    Column("next_attempt", Float),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Index("mail_unsent", "sent_at", "id"),
)
