"""Outbound messages: the sends, their delivery status and where their confirmation is.

Every function takes an open SQLAlchemy `Session` (from `Store.session()`); the caller owns the
transaction. A send is inserted under its idempotency key inside a SAVEPOINT, so a double submit
(even a concurrent one) finds the first row instead of sending twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.rules.status import stored_rank, supersedes
from bot.store.models import Contact, OutboundMessage

# Rows per multi-row statement: far below SQLite's bound-parameter cap.
BULK_ROWS = 500


def create_outbound(
    session: Session,
    *,
    idempotency_key: str,
    channel_id: str,
    contact_id: int,
    agent_user_id: str,
    team_id: str,
    kind: str,
    category: str,
    template_name: str | None,
    language: str | None,
    parameters: dict[str, Any] | None,
    text: str | None,
    status: str,
    charge: str | None,
    estimated_price: float | None,
    currency: str | None,
    now: datetime,
) -> tuple[OutboundMessage, bool]:
    """Insert the send under its idempotency key, or return the row already there.

    Returns (row, created). A double submit (same key, even concurrently) gets created=False and
    the first row, so the message goes out once.
    """

    def find() -> OutboundMessage | None:
        return session.scalar(
            select(OutboundMessage).where(OutboundMessage.idempotency_key == idempotency_key)
        )

    existing = find()
    if existing is not None:
        return existing, False

    def insert() -> OutboundMessage:
        row = OutboundMessage(
            idempotency_key=idempotency_key,
            channel_id=channel_id,
            contact_id=contact_id,
            agent_user_id=agent_user_id,
            team_id=team_id,
            kind=kind,
            category=category,
            template_name=template_name,
            language=language,
            parameters=parameters,
            text=text,
            status=status,
            status_rank=stored_rank(status),
            charge=charge,
            estimated_price=estimated_price,
            currency=currency,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        return row

    created = True
    try:
        with session.begin_nested():
            row = insert()
    except IntegrityError:
        found = find()
        if found is None:
            raise
        row, created = found, False
    return row, created


def recent_outbound(
    session: Session,
    *,
    agent_user_id: str | None = None,
    team_ids: Sequence[str] | None = None,
    since: datetime | None = None,
    limit: int = 20,
) -> list[OutboundMessage]:
    """The newest sends, optionally of one agent, of some teams, after `since`."""
    stmt = select(OutboundMessage)
    if agent_user_id is not None:
        stmt = stmt.where(OutboundMessage.agent_user_id == agent_user_id)
    if team_ids is not None:
        stmt = stmt.where(OutboundMessage.team_id.in_(list(team_ids)))
    if since is not None:
        stmt = stmt.where(OutboundMessage.created_at >= since)
    stmt = stmt.order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def last_outbound(session: Session, channel_id: str, contact_id: int) -> OutboundMessage | None:
    """The newest send to this contact on this channel (who talked to them last)."""
    return session.scalars(
        select(OutboundMessage)
        .where(OutboundMessage.channel_id == channel_id, OutboundMessage.contact_id == contact_id)
        .order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc())
        .limit(1)
    ).first()


def set_confirmation(session: Session, outbound_id: int, slack_channel: str, slack_ts: str) -> None:
    """Where the agent's confirmation message is, so delivery updates can edit it."""
    row = session.get(OutboundMessage, outbound_id)
    if row is None:
        return
    row.slack_channel = slack_channel
    row.slack_ts = slack_ts
    session.flush()


def get_outbound(session: Session, outbound_id: int) -> OutboundMessage | None:
    """The send with this id."""
    return session.get(OutboundMessage, outbound_id)


def confirmation_place(session: Session, outbound_id: int) -> tuple[str, str] | None:
    """(Slack channel, ts) of the send's confirmation message, if one was posted."""
    row = session.get(OutboundMessage, outbound_id)
    if row is None or not row.slack_channel or not row.slack_ts:
        return None
    return row.slack_channel, row.slack_ts


def mark_send_failed(
    session: Session, outbound_id: int, status: str, code: str, detail: str, now: datetime
) -> None:
    """The BSP refused the send (`failed`) or its outcome is not known (`unknown`)."""
    row = session.get(OutboundMessage, outbound_id)
    assert row is not None
    row.status = status
    row.status_rank = stored_rank(status)
    row.error_code = code
    row.error_detail = detail
    row.updated_at = now


def mark_send_accepted(
    session: Session, outbound_id: int, bsp_message_id: str, wa_id: str | None, now: datetime
) -> None:
    """The BSP took the send: remember its message id (what statuses refer to). A status that
    arrived first (the webhook beat us) is kept."""
    row = session.get(OutboundMessage, outbound_id)
    assert row is not None
    row.bsp_message_id = bsp_message_id
    row.wa_id = wa_id
    if row.status in ("pending", "unknown"):
        row.status, row.status_rank = "accepted", stored_rank("accepted")
    row.updated_at = now


def outbound_by_message_id(
    session: Session, channel_id: str, message_ids: set[str]
) -> dict[str, OutboundMessage]:
    """The app's sends on this channel that these BSP message ids belong to, one query per chunk."""
    found: dict[str, OutboundMessage] = {}
    ids = sorted(message_ids)
    for start in range(0, len(ids), BULK_ROWS):
        rows = session.scalars(
            _BY_MESSAGE_ID, {"channel_id": channel_id, "ids": ids[start : start + BULK_ROWS]}
        )
        for row in rows:
            if row.bsp_message_id is not None:
                found[row.bsp_message_id] = row
    return found


# Built once: every ingestion batch with statuses asks.
_BY_MESSAGE_ID = select(OutboundMessage).where(
    OutboundMessage.channel_id == bindparam("channel_id"),
    OutboundMessage.bsp_message_id.in_(bindparam("ids", expanding=True)),
)


def advance_status(
    row: OutboundMessage,
    status: str,
    at: datetime,
    *,
    error_code: str | None,
    error_detail: str | None,
    now: datetime,
) -> bool:
    """Move the send's status forward (never back, by `bot.rules.status`); True if it changed.
    The error is kept for `failed` and cleared by any later status."""
    if not supersedes(status, row.status):
        return False
    row.status = status
    row.status_rank = stored_rank(status)
    row.status_at = at
    if status == "failed":
        row.error_code, row.error_detail = error_code, error_detail
    else:
        row.error_code = row.error_detail = None
    row.updated_at = now
    return True


@dataclass(frozen=True)
class LastSend:
    """The newest send to one contact on one channel: who talked to them last, and what."""

    team_id: str
    agent_user_id: str
    kind: str
    template_name: str | None
    text: str | None
    created_at: datetime


def last_sends(session: Session, pairs: set[tuple[str, int]]) -> dict[tuple[str, int], LastSend]:
    """The newest send of each (channel, contact), asked in chunks so a full sweep over tens of
    thousands of contacts stays under the databases' bound-parameter limits."""
    if not pairs:
        return {}
    contact_ids = sorted({contact_id for _, contact_id in pairs})
    last: dict[tuple[str, int], LastSend] = {}
    for start in range(0, len(contact_ids), BULK_ROWS):
        rows = session.execute(
            select(
                OutboundMessage.channel_id,
                OutboundMessage.contact_id,
                OutboundMessage.team_id,
                OutboundMessage.agent_user_id,
                OutboundMessage.kind,
                OutboundMessage.template_name,
                OutboundMessage.text,
                OutboundMessage.created_at,
            )
            .where(OutboundMessage.contact_id.in_(contact_ids[start : start + BULK_ROWS]))
            .order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc())
        )
        for row in rows:
            key = (row.channel_id, row.contact_id)
            if key in pairs and key not in last:  # newest first: the first seen wins
                last[key] = LastSend(
                    row.team_id, row.agent_user_id, row.kind, row.template_name, row.text, row.created_at
                )
    return last


def sends_of_agent(session: Session, agent_user_id: str, limit: int) -> list[tuple[OutboundMessage, Contact]]:
    """The agent's newest sends with their contacts, newest first."""
    rows = session.execute(
        select(OutboundMessage, Contact)
        .join(Contact, Contact.id == OutboundMessage.contact_id)
        .where(OutboundMessage.agent_user_id == agent_user_id)
        .order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc())
        .limit(limit)
    ).all()
    return [(message, contact) for message, contact in rows]


def paid_spend(
    session: Session, team_ids: Sequence[str], start: datetime, end: datetime
) -> list[tuple[str, str, str | None, float, int]]:
    """(team, category, currency, estimated total, sends) of the paid sends in [start, end)."""
    rows = session.execute(
        select(
            OutboundMessage.team_id,
            OutboundMessage.category,
            OutboundMessage.currency,
            func.sum(OutboundMessage.estimated_price),
            func.count(OutboundMessage.id),
        )
        .where(
            OutboundMessage.team_id.in_(list(team_ids)),
            OutboundMessage.charge == "paid",
            # A failed send was never delivered, so Meta never bills it.
            OutboundMessage.status != "failed",
            OutboundMessage.created_at >= start,
            OutboundMessage.created_at < end,
        )
        .group_by(OutboundMessage.team_id, OutboundMessage.category, OutboundMessage.currency)
    ).all()
    return [
        (team_id, category, currency, float(amount or 0.0), int(count))
        for team_id, category, currency, amount, count in rows
    ]
