"""`alert_claims`: one row per (window, expiry, Slack channel) an expiry alert goes to.

The unique key makes claiming exactly-once across instances and restarts; a lease (an UPDATE ..
RETURNING, FOR UPDATE SKIP LOCKED on PostgreSQL) lets one instance at a time post a claim. The
protocol itself is described in `bot.core.alerts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.orm import Session

from bot.store.db import dialect_insert, lease_due_rows
from bot.store.models import AlertClaim

_CLAIM_KEY = ["channel_id", "contact_id", "kind", "expires_at", "slack_channel"]


def _table() -> Table:
    return AlertClaim.__table__  # type: ignore[return-value]


@dataclass(frozen=True)
class LeasedClaim:
    """A claim this instance holds the lease of."""

    id: int
    channel_id: str
    contact_id: int
    kind: str
    expires_at: datetime
    slack_channel: str
    attempts: int
    claimed_at: datetime | None = None  # when it became due: the give-up clock starts here


def insert_claims(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert the claims not there yet (ON CONFLICT DO NOTHING on the claim key); how many were new.
    One cached statement run with many parameter sets (SQLAlchemy's "insertmanyvalues"): no
    per-scan SQL compilation, batched under the drivers' parameter limits, RETURNING kept."""
    if not rows:
        return 0
    table = _table()
    stmt = (
        dialect_insert(session, table)
        .on_conflict_do_nothing(index_elements=_CLAIM_KEY)
        .returning(table.c.id)
    )
    return len(session.execute(stmt, list(rows)).all())


def lease_claims(
    session: Session, now: datetime, lease_until: datetime, instance_id: str, limit: int
) -> list[LeasedClaim]:
    """Lease up to `limit` unposted claims whose turn has come (not leased, or the lease ran out;
    no retry scheduled later than `now`). The caller commits before posting."""
    table = _table()
    c = table.c
    rows = lease_due_rows(
        session,
        table,
        now,
        lease_until,
        instance_id,
        limit,
        returning=(
            c.id, c.channel_id, c.contact_id, c.kind, c.expires_at, c.slack_channel, c.attempts, c.claimed_at
        ),
    )
    return [
        LeasedClaim(
            id=row.id,
            channel_id=row.channel_id,
            contact_id=row.contact_id,
            kind=row.kind,
            expires_at=row.expires_at,
            slack_channel=row.slack_channel,
            attempts=row.attempts,
            claimed_at=row.claimed_at,
        )
        for row in rows
    ]


def mark_posted(
    session: Session, ids: Sequence[int], ts: str | None, now: datetime, outcome: str | None = None
) -> None:
    """The claims are done: posted in the message `ts`, or dropped (ts None) with `outcome`
    (superseded by default; expired, given_up)."""
    table = _table()
    session.execute(
        update(table)
        .where(table.c.id.in_(list(ids)), table.c.posted_at.is_(None))
        .values(
            posted_at=now,
            slack_ts=ts,
            lease_until=None,
            outcome=outcome or ("posted" if ts is not None else "superseded"),
        )
    )


def mark_failed(
    session: Session, retries: Sequence[tuple[int, int, datetime]], error: str | None = None
) -> None:
    """The post failed: for each (claim id, attempts so far, next attempt at), record the attempt
    (and Slack's `error`) and release the lease."""
    table = _table()
    for claim_id, attempts, next_attempt_at in retries:
        session.execute(
            update(table)
            .where(table.c.id == claim_id, table.c.posted_at.is_(None))
            .values(
                attempts=attempts,
                next_attempt_at=next_attempt_at,
                lease_until=None,
                last_error=error[:2000] if error else None,
            )
        )


def pending_count(session: Session) -> int:
    """Claims neither posted nor dropped yet (waiting for their turn, leased, or to be retried)."""
    from sqlalchemy import func

    table = _table()
    count = select(func.count()).select_from(table).where(table.c.posted_at.is_(None))
    return int(session.scalar(count) or 0)


@dataclass(frozen=True)
class ClaimRow:
    """One claim as `contato-bot alerts` shows it."""

    id: int
    channel_id: str
    contact_id: int
    kind: str
    expires_at: datetime
    slack_channel: str
    claimed_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    posted_at: datetime | None
    outcome: str | None
    last_error: str | None


def list_claims(
    session: Session, *, pending: bool = False, failed: bool = False, limit: int = 200
) -> list[ClaimRow]:
    """Claims, newest first: all, the pending ones (not done), or the failed ones (dropped as
    expired or given up, or pending with a failed attempt)."""
    table = _table()
    c = table.c
    stmt = select(
        c.id, c.channel_id, c.contact_id, c.kind, c.expires_at, c.slack_channel, c.claimed_at,
        c.attempts, c.next_attempt_at, c.posted_at, c.outcome, c.last_error,
    )
    if pending:
        stmt = stmt.where(c.posted_at.is_(None))
    if failed:
        stmt = stmt.where(
            or_(c.outcome.in_(["expired", "given_up"]), and_(c.posted_at.is_(None), c.attempts > 0))
        )
    rows = session.execute(stmt.order_by(c.id.desc()).limit(limit)).all()
    return [ClaimRow(**row._mapping) for row in rows]
