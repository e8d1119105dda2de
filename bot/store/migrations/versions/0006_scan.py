"""The expiry scan in the database: `window_due_queue` (windows ingestion wrote already close to
their expiry, read by the next scan), an index for "whose agent wrote to this contact last", and
the alert claims' unique key with the expiry first (claims are made in expiry order, so each
scan's inserts go to the index's end rather than one page each all over it).

Revision ID: 0006_scan
Revises: 0005_worker
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_scan"
down_revision: str | None = "0005_worker"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "window_due_queue",
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("taken_by", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("channel_id", "contact_id", "kind", name="pk_window_due_queue"),
    )
    op.create_index("ix_outbound_last_send", "outbound_messages", ["contact_id", "channel_id", "created_at"])
    with op.batch_alter_table("alert_claims") as batch:
        batch.drop_constraint("uq_alert_claims", type_="unique")
        batch.create_unique_constraint(
            "uq_alert_claims", ["expires_at", "channel_id", "contact_id", "kind", "slack_channel"]
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_claims") as batch:
        batch.drop_constraint("uq_alert_claims", type_="unique")
        batch.create_unique_constraint(
            "uq_alert_claims", ["channel_id", "contact_id", "kind", "expires_at", "slack_channel"]
        )
    op.drop_index("ix_outbound_last_send", table_name="outbound_messages")
    op.drop_table("window_due_queue")
