"""`alert_claims`: one row per (window, expiry, Slack channel) an expiry alert goes to.

The unique key makes claiming exactly-once across instances and restarts; a lease (an UPDATE ..
RETURNING, FOR UPDATE SKIP LOCKED on PostgreSQL) lets one instance at a time post a claim. The
protocol itself is described in `bot.core.alerts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    literal,
    or_,
    select,
    union,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.rules.windows import WINDOW_KINDS
from bot.store.db import dialect_insert, lease_due_rows
from bot.store.models import AlertClaim, OutboundMessage, UtcDateTime, Window, WindowDueQueue

# The unique key, expiry first (as the index): new claims expire later than the ones before, so
# they go in at the index's end instead of dirtying a page per claim all over it.
_CLAIM_KEY = ["expires_at", "channel_id", "contact_id", "kind", "slack_channel"]


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
        dialect_insert(session, table).on_conflict_do_nothing(index_elements=_CLAIM_KEY).returning(table.c.id)
    )
    return len(session.execute(stmt, list(rows)).all())


@dataclass(frozen=True)
class AlertRoute:
    """A team whose alerts are posted: its Slack channel, the latest expiry due for it now (now +
    its alert_lead_minutes), and the WhatsApp channels it owns."""

    team_id: str
    slack_channel: str
    due_until: datetime
    channels: tuple[str, ...]


def claim_due_windows(
    session: Session,
    now: datetime,
    routes: Sequence[AlertRoute],
    known_teams: Sequence[str],
    edges: Sequence[tuple[datetime | None, datetime]],
    scan_id: str,
) -> int:
    """Insert, in one INSERT .. SELECT .. ON CONFLICT DO NOTHING, a claim for every window due now
    in every Slack channel it goes to; returns how many are new. Routing, in SQL: the team whose
    agent last wrote to the contact on that channel (the newest `outbound_messages` row) if it is
    one of `known_teams`, else every team that owns the channel; only the teams in `routes` (those
    with an alert channel), each when the expiry is within its lead (`due_until`).

    Which windows are read: those whose expiry falls in one of `edges` ((low, high], low None for
    no bound: the slices that crossed a lead's edge since the previous scan), and every window in
    `window_due_queue`. The queue rows this scan read are deleted in the same transaction, claimed
    or not (not due yet, window gone, moved or expired).

    Why no window is lost, in any commit order:
    - Queued rows are taken first (`taken_by = scan_id`, its own statement), then claimed by a
      later statement, then deleted by that mark: on PostgreSQL a row an ingestion transaction
      holds is waited for, and the claim statement's fresh snapshot sees that transaction's
      window (written in the same transaction as its queue row); a row committed after the mark
      stays for the next scan. On SQLite transactions run one at a time (BEGIN IMMEDIATE).
    - A queued window not due yet for some team is deleted all the same: it was visible to this
      scan, so it is visible to every later one, and its expiry is ahead of this scan's edges,
      so a later scan's edge slice reads it when it becomes due.
    - A window ingestion did not queue expires later than its clock + the longest lead + a margin
      (`bot.core.ingest.DUE_QUEUE_MARGIN`), so no lead's edge reaches it before that margin has
      passed, by which time its transaction has committed: the edge slice reads it.
    """
    if not routes:
        return 0
    queue: Table = WindowDueQueue.__table__  # type: ignore[assignment]
    taken = session.execute(
        update(queue).where(queue.c.taken_by.is_(None)).values(taken_by=scan_id).returning(queue.c.kind)
    ).all()
    # One lower bound per range, the later of `now` and the edge's: given two, SQLite walks the
    # index from the one it picks, which may be `now` (an hour of windows instead of 30 s).
    ranges = [(max(low, now) if low is not None else now, high) for low, high in edges if high > now]
    if not ranges and not taken:
        return 0
    rows = [(r.team_id, "", r) for r in routes] + [("", ch, r) for r in routes for ch in r.channels]
    params: dict[str, Any] = {"now": now, "known": list(known_teams), "scan_id": scan_id}
    for i, (low, high) in enumerate(ranges):
        params[f"low_{i}"], params[f"high_{i}"] = low, high
    for i, (team_id, channel_id, route) in enumerate(rows):
        params[f"team_{i}"], params[f"channel_{i}"] = team_id, channel_id
        params[f"slack_{i}"], params[f"due_until_{i}"] = route.slack_channel, route.due_until
    stmt = _claim_statement(session.get_bind().dialect.name, len(ranges), len(rows), bool(taken))
    new = len(session.execute(stmt, params).all())
    if taken:
        session.execute(delete(queue).where(queue.c.taken_by == scan_id))
    return new


@lru_cache(maxsize=32)
def _claim_statement(dialect: str, ranges: int, routes: int, queued: bool) -> Any:
    """The claim INSERT for this shape (edge ranges, route rows, queue taken or not), built once:
    every value is a named parameter, so a scan neither rebuilds nor recompiles it."""
    from sqlalchemy.dialects import postgresql, sqlite

    table = _table()
    queue: Table = WindowDueQueue.__table__  # type: ignore[assignment]
    windows: Table = Window.__table__  # type: ignore[assignment]
    sent: Table = OutboundMessage.__table__  # type: ignore[assignment]
    w = windows.c
    key = (w.channel_id, w.contact_id, w.kind, w.expires_at)
    alerting = w.kind.in_(WINDOW_KINDS)
    now = bindparam("now", type_=UtcDateTime())
    reads: list[Select[Any]] = []
    if ranges:
        slices = [
            and_(
                w.expires_at > bindparam(f"low_{i}", type_=UtcDateTime()),
                w.expires_at <= bindparam(f"high_{i}", type_=UtcDateTime()),
            )
            for i in range(ranges)
        ]
        reads.append(select(*key).where(alerting, or_(*slices)))
    if queued:
        on_key = and_(
            queue.c.channel_id == w.channel_id, queue.c.contact_id == w.contact_id, queue.c.kind == w.kind
        )
        reads.append(
            select(*key)
            .join(queue, on_key)
            .where(queue.c.taken_by == bindparam("scan_id", type_=String), w.expires_at > now, alerting)
        )
    due = (reads[0] if len(reads) == 1 else union(reads[0], *reads[1:])).subquery("due")
    last_team = (
        select(sent.c.team_id)
        .where(sent.c.channel_id == due.c.channel_id, sent.c.contact_id == due.c.contact_id)
        .order_by(sent.c.created_at.desc(), sent.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    # Materialized: the newest-send lookup runs once per window, however often it is used below.
    routed = select(due, last_team.label("last_team")).cte("routed").prefix_with("MATERIALIZED")
    # A window goes to its last sender's team (route_team, route_channel ''), or when nobody
    # wrote or the config no longer has that team, to every team owning its channel ('', channel).
    by_last_sender = routed.c.last_team.in_(bindparam("known", expanding=True))
    route_team = case((by_last_sender, routed.c.last_team), else_=literal(""))
    route_channel = case((by_last_sender, literal("")), else_=routed.c.channel_id)
    routes_cte = union_all(
        *(
            select(
                bindparam(f"team_{i}", type_=String).label("team_id"),
                bindparam(f"channel_{i}", type_=String).label("channel_id"),
                bindparam(f"slack_{i}", type_=String).label("slack_channel"),
                bindparam(f"due_until_{i}", type_=UtcDateTime()).label("due_until"),
            )
            for i in range(routes)
        )
    ).cte("routes")
    keys = (
        select(
            routed.c.channel_id,
            routed.c.contact_id,
            routed.c.kind,
            routed.c.expires_at,
            routes_cte.c.slack_channel,
        )
        .distinct()
        .join_from(
            routed,
            routes_cte,
            and_(routes_cte.c.team_id == route_team, routes_cte.c.channel_id == route_channel),
        )
        .where(routed.c.expires_at <= routes_cte.c.due_until)
        .subquery("claimable")
    )
    claims = select(
        *(keys.c[name] for name in _CLAIM_KEY),
        now,
        literal(0, Integer),
    ).order_by(*(keys.c[name] for name in _CLAIM_KEY))  # one order everywhere: waits, no deadlocks
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return (
        insert.from_select([*_CLAIM_KEY, "claimed_at", "attempts"], claims)
        .on_conflict_do_nothing(index_elements=_CLAIM_KEY)
        .returning(table.c.id)  # counted by rows: sqlite3 gives no rowcount for a WITH statement
    )


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
            c.id,
            c.channel_id,
            c.contact_id,
            c.kind,
            c.expires_at,
            c.slack_channel,
            c.attempts,
            c.claimed_at,
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
        c.id,
        c.channel_id,
        c.contact_id,
        c.kind,
        c.expires_at,
        c.slack_channel,
        c.claimed_at,
        c.attempts,
        c.next_attempt_at,
        c.posted_at,
        c.outcome,
        c.last_error,
    )
    if pending:
        stmt = stmt.where(c.posted_at.is_(None))
    if failed:
        stmt = stmt.where(
            or_(c.outcome.in_(["expired", "given_up"]), and_(c.posted_at.is_(None), c.attempts > 0))
        )
    rows = session.execute(stmt.order_by(c.id.desc()).limit(limit)).all()
    return [ClaimRow(**row._mapping) for row in rows]
