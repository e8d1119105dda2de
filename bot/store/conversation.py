"""Conversation threads: `conversation_posts` (customer messages for the confirmation's thread)
and `thread_replies` (what agents write in that thread).

A customer message is inserted once (ON CONFLICT DO NOTHING on channel + message id), then leased
(one UPDATE .. RETURNING; FOR UPDATE SKIP LOCKED on PostgreSQL) by one instance at a time, posted,
and marked posted: the alert claims' protocol (bot.core.alerts), so duplicates, webhook order
and several instances never post twice. An agent's thread message is claimed the same way by its
Slack identity (channel + ts) before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from bot.store.db import dialect_insert, lease_due_rows
from bot.store.models import ConversationPost, OutboundMessage, ThreadReply


def _posts() -> Table:
    return ConversationPost.__table__  # type: ignore[return-value]


def _replies() -> Table:
    return ThreadReply.__table__  # type: ignore[return-value]


# ---- which thread ---------------------------------------------------------------------------


def followed_send(
    session: Session, channel_id: str, contact_id: int, since: datetime, until: datetime
) -> OutboundMessage | None:
    """The newest send to the contact on the channel between `since` and `until` whose
    confirmation was posted (the thread a reply goes to)."""
    return session.scalars(
        select(OutboundMessage)
        .where(
            OutboundMessage.channel_id == channel_id,
            OutboundMessage.contact_id == contact_id,
            OutboundMessage.slack_ts.is_not(None),
            OutboundMessage.created_at >= since,
            OutboundMessage.created_at <= until,
        )
        .order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc())
        .limit(1)
    ).first()


def contacts_with_sends(
    session: Session, channel_id: str, contact_ids: Sequence[int], since: datetime, until: datetime
) -> set[int]:
    """Those of the contacts with a confirmed send on the channel between `since` and `until`:
    one query for a whole batch, so only their messages look for the thread (`followed_send`)."""
    if not contact_ids:
        return set()
    return set(
        session.scalars(
            _CONTACTS_WITH_SENDS,
            {
                "channel_id": channel_id,
                "contact_ids": sorted(set(contact_ids)),
                "since": since,
                "until": until,
            },
        )
    )


# Built once (every ingestion batch with customer messages asks), on the table: no ORM step.
_SENDS: Table = OutboundMessage.__table__  # type: ignore[assignment]
_CONTACTS_WITH_SENDS = (
    select(_SENDS.c.contact_id)
    .where(
        _SENDS.c.channel_id == bindparam("channel_id"),
        _SENDS.c.contact_id.in_(bindparam("contact_ids", expanding=True)),
        _SENDS.c.slack_ts.is_not(None),
        _SENDS.c.created_at >= bindparam("since"),
        _SENDS.c.created_at <= bindparam("until"),
    )
    .distinct()
)


def send_of_thread(session: Session, slack_channel: str, thread_ts: str) -> OutboundMessage | None:
    """The send whose confirmation is the thread's parent message."""
    return session.scalars(
        select(OutboundMessage)
        .where(OutboundMessage.slack_channel == slack_channel, OutboundMessage.slack_ts == thread_ts)
        .limit(1)
    ).first()


# ---- customer messages ----------------------------------------------------------------------


def open_burst_due_at(session: Session, channel_id: str, contact_id: int, now: datetime) -> datetime | None:
    """When the contact's burst not yet posted nor leased goes out (None: no such burst), so a
    message arriving within it joins it."""
    c = _posts().c
    return session.scalar(
        select(func.min(c.due_at)).where(
            c.channel_id == channel_id,
            c.contact_id == contact_id,
            c.posted_at.is_(None),
            or_(c.lease_until.is_(None), c.lease_until < now),
            c.due_at >= now,
        )
    )


def insert_posts(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert the messages not claimed yet; how many were new."""
    if not rows:
        return 0
    table = _posts()
    stmt = (
        dialect_insert(session, table)
        .on_conflict_do_nothing(index_elements=["channel_id", "message_id"])
        .returning(table.c.id)
    )
    return len(session.execute(stmt, list(rows)).all())


def lease_posts(
    session: Session, now: datetime, lease_until: datetime, instance_id: str, limit: int
) -> list[ConversationPost]:
    """Lease up to `limit` unposted messages whose burst is due (not leased, or the lease ran
    out; no retry scheduled later). The caller commits before posting."""
    table = _posts()
    c = table.c
    rows = lease_due_rows(
        session, table, now, lease_until, instance_id, limit, also_due=(c.due_at <= now,), returning=(c.id,)
    )
    ids = [row.id for row in rows]
    if not ids:
        return []
    return list(
        session.scalars(
            select(ConversationPost)
            .where(ConversationPost.id.in_(ids))
            .order_by(ConversationPost.at, ConversationPost.id)
        )
    )


def mark_posted(session: Session, ids: Sequence[int], ts: str | None, now: datetime) -> None:
    """The messages are in the thread post `ts` (or dropped: ts None)."""
    c = _posts().c
    session.execute(
        update(_posts())
        .where(c.id.in_(list(ids)), c.posted_at.is_(None))
        .values(posted_at=now, slack_ts=ts, lease_until=None)
    )


def mark_failed(session: Session, ids: Sequence[int], attempts: int, next_attempt_at: datetime) -> None:
    """The post failed: record the attempt and release the lease."""
    c = _posts().c
    session.execute(
        update(_posts())
        .where(c.id.in_(list(ids)), c.posted_at.is_(None))
        .values(attempts=attempts, next_attempt_at=next_attempt_at, lease_until=None)
    )


def customer_replied(session: Session, outbound_id: int) -> bool:
    """Whether a customer message was posted in the thread of this send's confirmation."""
    c = _posts().c
    found = session.execute(
        select(c.id).where(c.outbound_id == outbound_id, c.posted_at.is_not(None)).limit(1)
    ).first()
    return found is not None


# ---- the agent's thread messages ------------------------------------------------------------


def claim_thread_reply(
    session: Session,
    *,
    slack_channel: str,
    slack_ts: str,
    thread_ts: str,
    agent_user_id: str,
    event_id: str | None,
    now: datetime,
) -> bool:
    """Claim the agent's message; False when it was claimed before (a retry, a redelivery)."""
    table = _replies()
    stmt = (
        dialect_insert(session, table)
        .values(
            slack_channel=slack_channel,
            slack_ts=slack_ts,
            thread_ts=thread_ts,
            agent_user_id=agent_user_id,
            event_id=event_id,
            outcome="claimed",
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["slack_channel", "slack_ts"])
        .returning(table.c.id)
    )
    return session.execute(stmt).first() is not None


def settle_thread_reply(
    session: Session, slack_channel: str, slack_ts: str, outcome: str, outbound_id: int | None = None
) -> None:
    """What became of the agent's message: sent (as `outbound_id`), window_closed, not_allowed..."""
    c = _replies().c
    session.execute(
        update(_replies())
        .where(c.slack_channel == slack_channel, c.slack_ts == slack_ts)
        .values(outcome=outcome, outbound_id=outbound_id)
    )


THREAD_KEY_PREFIX = "thread:"


def thread_send_key(slack_channel: str, slack_ts: str) -> str:
    """The idempotency key of the send an agent's thread message becomes: its Slack identity, so
    the send is found from the message (and the message from the send) before the send returns."""
    return f"{THREAD_KEY_PREFIX}{slack_channel}:{slack_ts}"


def thread_replies_of(session: Session, outbound_ids: Sequence[int]) -> dict[int, tuple[str, str, str]]:
    """outbound id -> (Slack channel, the agent's message ts, thread ts) for sends that came from
    a thread message. Found by the send's idempotency key, so a status that arrives while the
    send is still being recorded finds its message too."""
    if not outbound_ids:
        return {}
    keys = dict(
        session.execute(
            select(OutboundMessage.idempotency_key, OutboundMessage.id).where(
                OutboundMessage.id.in_(list(outbound_ids)),
                OutboundMessage.idempotency_key.startswith(THREAD_KEY_PREFIX),
            )
        ).all()
    )
    if not keys:
        return {}
    c = _replies().c
    found = {}
    for row in session.execute(
        select(c.slack_channel, c.slack_ts, c.thread_ts).where(
            or_(*(and_(c.slack_channel == ch, c.slack_ts == ts) for ch, ts in _places(keys)))
        )
    ).all():
        outbound_id = keys.get(thread_send_key(row.slack_channel, row.slack_ts))
        if outbound_id is not None:
            found[outbound_id] = (row.slack_channel, row.slack_ts, row.thread_ts)
    return found


def _places(keys: Mapping[str, int]) -> list[tuple[str, str]]:
    places = []
    for key in keys:
        channel, _, ts = key.removeprefix(THREAD_KEY_PREFIX).partition(":")
        places.append((channel, ts))
    return places
