"""Audit events say how their hash was made: "sha256" (unkeyed) or "hmac" (KSMC_AUDIT_KEY).

Existing events are unkeyed and stay as they are (`server_default`); once the bot has a key, the
first keyed event covers the last unkeyed one's hash, which seals the unkeyed prefix, and an
unkeyed event after a keyed one fails `audit verify`. A plain ADD COLUMN, not a batch rebuild:
rebuilding audit_events on SQLite would drop its append-only triggers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "audit_events",
        sa.Column("scheme", sa.String(length=16), nullable=False, server_default="sha256"),
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("scheme")
