"""Browsers a user has signed in from, so guessing elsewhere cannot keep the user out.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table of trusted devices."""
    op.create_table(
        "trusted_devices",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index("trusted_devices_user", "trusted_devices", ["user_name"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("trusted_devices_user", "trusted_devices")
    op.drop_table("trusted_devices")
