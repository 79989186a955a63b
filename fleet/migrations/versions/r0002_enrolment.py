"""Enrolment: tokens (hashes only) and the device certificates issued and revoked.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the two enrolment tables."""
    op.create_table(
        "enrol_tokens",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("site", sa.Text, nullable=False),
        sa.Column("kiosk_id", sa.String(64)),
        sa.Column("location", sa.Text),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
        sa.Column("used_at", sa.Float),
        sa.Column("used_by", sa.String(64)),
        sa.Column("revoked_at", sa.Float),
    )
    op.create_table(
        "device_certificates",
        sa.Column("serial", sa.String(40), primary_key=True),
        sa.Column("kiosk_id", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.Float, nullable=False),
        sa.Column("not_after", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
        sa.Column("revoked_by", sa.Text),
        sa.Column("pem", sa.Text, nullable=False),
    )
    op.create_index("device_certificates_kiosk", "device_certificates", ["kiosk_id"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("device_certificates_kiosk", "device_certificates")
    op.drop_table("device_certificates")
    op.drop_table("enrol_tokens")
