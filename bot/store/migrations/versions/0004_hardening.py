"""Webhook deliveries that cannot be applied are retried a bounded number of times, then parked:
`attempts`, `next_attempt_at`, `failed_at` on webhook_deliveries; `contacts.identity_at`, the time
of the event that last named the contact (the newest event wins, not the last to arrive).

Revision ID: 0004_hardening
Revises: 0003_conversation
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_hardening"
down_revision: str | None = "0003_conversation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("identity_at", sa.DateTime(timezone=False), nullable=True))
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=False), nullable=True))
        batch.add_column(sa.Column("failed_at", sa.DateTime(timezone=False), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("failed_at")
        batch.drop_column("next_attempt_at")
        batch.drop_column("attempts")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("identity_at")
