"""Conversation threads: `conversation_posts` (customer messages claimed once for the thread of
the agent's confirmation) and `thread_replies` (agent messages in that thread, claimed once).

Revision ID: 0003_conversation
Revises: 0002_operations
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_conversation"
down_revision: str | None = "0002_operations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    # BIGINT on PostgreSQL; INTEGER on SQLite so it is the rowid alias (autoincrement).
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)


def _big() -> sa.types.TypeEngine[int]:
    # Like outbound_messages.id, which these reference.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=False), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "conversation_posts",
        _id(),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("outbound_id", _big(), nullable=False),
        _ts("at"),
        sa.Column("content", sa.JSON(), nullable=False),
        _ts("claimed_at"),
        _ts("due_at"),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        _ts("lease_until", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at", nullable=True),
        _ts("posted_at", nullable=True),
        sa.Column("slack_ts", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_conversation_posts"),
        sa.UniqueConstraint("channel_id", "message_id", name="uq_conversation_posts_message"),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_conversation_posts_contact_id_contacts"
        ),
        sa.ForeignKeyConstraint(
            ["outbound_id"],
            ["outbound_messages.id"],
            name="fk_conversation_posts_outbound_id_outbound_messages",
        ),
    )
    op.create_index("ix_conversation_posts_pending", "conversation_posts", ["posted_at", "due_at"])
    op.create_index("ix_conversation_posts_outbound", "conversation_posts", ["outbound_id"])

    op.create_table(
        "thread_replies",
        _id(),
        sa.Column("slack_channel", sa.String(32), nullable=False),
        sa.Column("slack_ts", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32), nullable=False),
        sa.Column("agent_user_id", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("outbound_id", _big(), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_thread_replies"),
        sa.UniqueConstraint("slack_channel", "slack_ts", name="uq_thread_replies_message"),
        sa.ForeignKeyConstraint(
            ["outbound_id"], ["outbound_messages.id"], name="fk_thread_replies_outbound_id_outbound_messages"
        ),
    )
    op.create_index("ix_thread_replies_outbound", "thread_replies", ["outbound_id"])


def downgrade() -> None:
    op.drop_table("thread_replies")
    op.drop_table("conversation_posts")
