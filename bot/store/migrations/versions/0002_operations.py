"""Operations: why an alert claim ended as it did (`outcome`) and the last Slack error of its
attempts (`last_error`), so `contato-bot alerts --failed` answers "why wasn't it sent?".

Revision ID: 0002_operations
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_operations"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_claims") as batch:
        # posted | superseded | expired | given_up; NULL while pending (and for rows from before)
        batch.add_column(sa.Column("outcome", sa.String(16), nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_claims") as batch:
        batch.drop_column("last_error")
        batch.drop_column("outcome")
