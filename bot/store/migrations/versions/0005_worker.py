"""Ingestion workers: a partial index for the drainers' queue (deliveries still to ingest, by
id), and `template_cache.invalidated_at`, how a template webhook ingested in one process tells
every other process's template cache to refresh.

Revision ID: 0005_worker
Revises: 0004_hardening
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_worker"
down_revision: str | None = "0004_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DUE = "processed_at IS NULL AND failed_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["id"],
        postgresql_where=sa.text(_DUE),
        sqlite_where=sa.text(_DUE),
    )
    with op.batch_alter_table("template_cache") as batch:
        batch.add_column(sa.Column("invalidated_at", sa.DateTime(timezone=False), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("template_cache") as batch:
        batch.drop_column("invalidated_at")
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
