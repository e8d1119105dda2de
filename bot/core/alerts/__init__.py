"""Expiry alerts: the scan, the claim, the digest, on APScheduler.

Exactly once, with several app instances on one database, restarts and a flaky Slack:

1. Claim. Every due (window, expiry, Slack channel) becomes one `alert_claims` row, inserted with
   ON CONFLICT DO NOTHING on the unique key. A repeated scan, a restart or a second instance
   inserts nothing; a window extended by a new customer message has a new `expires_at`, hence its
   own claim (its own alert, later).
2. Lease. Unposted claims whose turn has come are leased with one UPDATE .. RETURNING (on
   PostgreSQL the candidate rows are picked FOR UPDATE SKIP LOCKED, and the UPDATE re-checks the
   lease on the locked row), committed before anything is posted: only one instance holds a claim.
   A lease that runs out (the instance died between lease and post) makes the claim pending again.
3. Post. One digest `chat.postMessage` per Slack channel (more only past Slack's 50 blocks), then
   `posted_at`/`slack_ts` are written. On a Slack failure (HTTP 5xx, 429, `ok: false`, network) the
   claims get `next_attempt_at` (Retry-After when Slack gives one, else exponential backoff) and
   the lease is released: retried, never lost.

The one gap no database can close: an instance that dies after Slack accepted a post and before
`posted_at` is written; that digest is posted again when the lease runs out (short: LEASE).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.orm import Session

from bot.blocks.alerts import DIGEST_MAX_ITEMS, RESUME_ACTION_ID, AlertItem, alert_digest
from bot.rules.phones import mask_phone, wa_id_to_e164
from bot.store.db import dialect_insert
from bot.store.models import AlertClaim, Contact, OutboundMessage, Window

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.runtime import Runtime

__all__ = [
    "RESUME_ACTION_ID",
    "AlertItem",
    "ScanResult",
    "claim_due",
    "due_items",
    "run_scan",
    "start_scheduler",
]

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # longer than a few Slack calls with their timeouts
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(minutes=30)
CLAIM_BATCH = 500
LEASE_BATCH = 500  # claims leased per round; a scan takes more rounds while some are left
MAX_ROUNDS = 20
KINDS = ("customer_care", "ctwa", "ctwa_pending")

# Teams without an alert_channel are skipped; say so once per process, not once per scan.
_warned_teams: set[str] = set()


@dataclass
class ScanResult:
    """What one scan did (for logs and tests)."""

    claimed: int = 0  # new claim rows
    posted: int = 0  # claims posted to Slack now
    messages: int = 0  # chat.postMessage calls that succeeded
    failed: int = 0  # claims whose post failed (retry scheduled)
    superseded: int = 0  # claims dropped because the window was extended or answered meanwhile
    skipped_teams: list[str] = field(default_factory=list)


# ---- which team, which Slack channel ---------------------------------------------------------


def _teams_for_channel(config: Any, channel_id: str) -> list[Any]:
    finder = getattr(config, "teams_for_channel", None)
    if finder is not None:
        return list(finder(channel_id))
    return [team for team in config.teams if channel_id in team.channels]


def _alert_teams(config: Any, channel_id: str, last_team_id: str | None) -> list[Any]:
    """The team whose agent last contacted the customer, else every team that owns the channel."""
    if last_team_id is not None:
        team = config.team(last_team_id)
        if team is not None:
            return [team]
    return _teams_for_channel(config, channel_id)


def _with_alert_channel(teams: Iterable[Any], skipped: list[str]) -> list[Any]:
    kept = []
    for team in teams:
        if team.alert_channel:
            kept.append(team)
            continue
        if team.id not in skipped:
            skipped.append(team.id)
        if team.id not in _warned_teams:
            _warned_teams.add(team.id)
            log.warning("team %s has no alert_channel: its expiry alerts are not posted", team.id)
    return kept


@dataclass(frozen=True)
class _Last:
    team_id: str
    agent_user_id: str
    kind: str
    template_name: str | None
    text: str | None
    created_at: datetime


def _last_outbound(session: Session, pairs: set[tuple[str, int]]) -> dict[tuple[str, int], _Last]:
    """The newest outbound message of each (channel, contact), asked in chunks so a full sweep over
    tens of thousands of contacts stays under the databases' bound-parameter limits."""
    if not pairs:
        return {}
    contact_ids = sorted({contact_id for _, contact_id in pairs})
    last: dict[tuple[str, int], _Last] = {}
    for start in range(0, len(contact_ids), CLAIM_BATCH):
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
            .where(OutboundMessage.contact_id.in_(contact_ids[start : start + CLAIM_BATCH]))
            .order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc())
        )
        for row in rows:
            key = (row.channel_id, row.contact_id)
            if key in pairs and key not in last:  # newest first: the first seen wins
                last[key] = _Last(
                    row.team_id, row.agent_user_id, row.kind, row.template_name, row.text, row.created_at
                )
    return last


def _contact_e164(contact: Contact) -> str | None:
    if contact.e164:
        return contact.e164
    if contact.wa_id:
        try:
            return wa_id_to_e164(contact.wa_id)
        except Exception:  # a BSUID or junk: no number to prefill
            return None
    return None


# ---- 1. claim --------------------------------------------------------------------------------


def claim_due(
    session: Session,
    config: Any,
    now: datetime,
    result: ScanResult | None = None,
    *,
    since: datetime | None = None,
) -> int:
    """Insert a claim for every window due now in every Slack channel it goes to; returns how
    many are new. Due: now < expires_at <= now + the team's alert_lead_minutes.

    With `since` (the previous scan's `now`), only windows that *became* due since then are read:
    for each lead L, expiries in (since + L, now + L]. Every expiry crosses each lead's moving
    edge in exactly one scan, so nothing is skipped, and a scan reads hundreds of rows instead of
    every window closing within the hour. The unique claim key keeps it exactly-once either way.
    """
    result = result if result is not None else ScanResult()
    leads = sorted({team.alert_lead_minutes for team in config.teams if team.alert_lead_minutes > 0})
    if not leads:
        return 0
    if since is None or since >= now:
        due = Window.expires_at <= now + timedelta(minutes=leads[-1])
    else:
        due = or_(
            *(
                and_(
                    Window.expires_at > since + timedelta(minutes=lead),
                    Window.expires_at <= now + timedelta(minutes=lead),
                )
                for lead in leads
            )
        )
    windows = session.execute(
        select(Window.channel_id, Window.contact_id, Window.kind, Window.expires_at).where(
            Window.expires_at > now, due, Window.kind.in_(KINDS)
        )
    ).all()
    if not windows:
        return 0
    last = _last_outbound(session, {(w.channel_id, w.contact_id) for w in windows})
    rows: dict[tuple[str, int, str, datetime, str], dict[str, Any]] = {}
    for w in windows:
        previous = last.get((w.channel_id, w.contact_id))
        teams = _with_alert_channel(
            _alert_teams(config, w.channel_id, previous.team_id if previous else None), result.skipped_teams
        )
        for team in teams:
            if w.expires_at > now + timedelta(minutes=team.alert_lead_minutes):
                continue  # due for a team with a longer lead, not this one yet
            key = (w.channel_id, w.contact_id, w.kind, w.expires_at, team.alert_channel)
            rows[key] = {
                "channel_id": w.channel_id,
                "contact_id": w.contact_id,
                "kind": w.kind,
                "expires_at": w.expires_at,
                "slack_channel": team.alert_channel,
                "claimed_at": now,
                "attempts": 0,
            }
    if not rows:
        return 0
    table: Table = AlertClaim.__table__  # type: ignore[assignment]
    # Same order in every instance: concurrent inserts of overlapping keys wait, never deadlock.
    values = [rows[key] for key in sorted(rows)]
    new = 0
    # One cached statement run with many parameter sets (SQLAlchemy's "insertmanyvalues"): no
    # per-scan SQL compilation, batched under the drivers' parameter limits, RETURNING kept.
    stmt = (
        dialect_insert(session, table)
        .on_conflict_do_nothing(
            index_elements=["channel_id", "contact_id", "kind", "expires_at", "slack_channel"]
        )
        .returning(table.c.id)
    )
    new = len(session.execute(stmt, values).all())
    result.claimed += new
    return new


# ---- 2. lease --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Leased:
    id: int
    channel_id: str
    contact_id: int
    kind: str
    expires_at: datetime
    slack_channel: str
    attempts: int


def _lease(session: Session, now: datetime, instance_id: str, limit: int = LEASE_BATCH) -> list[_Leased]:
    """Lease the claims whose turn has come (committed by the caller before posting)."""
    table: Table = AlertClaim.__table__  # type: ignore[assignment]
    c = table.c
    turn = and_(
        c.posted_at.is_(None),
        or_(c.lease_until.is_(None), c.lease_until < now),
        or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now),
    )
    candidates = select(c.id).where(turn).order_by(c.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        update(table)
        # `turn` again: on PostgreSQL a row another instance leased meanwhile is re-checked here.
        .where(c.id.in_(candidates.scalar_subquery()), turn)
        .values(lease_until=now + LEASE, claimed_by=instance_id)
        .returning(c.id, c.channel_id, c.contact_id, c.kind, c.expires_at, c.slack_channel, c.attempts)
    )
    return [_Leased(*row) for row in session.execute(stmt).all()]


# ---- 3. post ---------------------------------------------------------------------------------


def _items_for(
    session: Session, config: Any, leased: Sequence[_Leased], now: datetime, result: ScanResult
) -> tuple[dict[int, AlertItem], list[int]]:
    """The digest item of each leased claim, and the claims to drop without posting: the window
    was extended (its own claim will come) or is gone (the ad lead was answered)."""
    contact_ids = {claim.contact_id for claim in leased}
    contacts = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(contact_ids)))}
    current = {
        (w.channel_id, w.contact_id, w.kind): w.expires_at
        for w in session.execute(
            select(Window.channel_id, Window.contact_id, Window.kind, Window.expires_at).where(
                Window.contact_id.in_(contact_ids)
            )
        )
    }
    last = _last_outbound(session, {(claim.channel_id, claim.contact_id) for claim in leased})
    items: dict[int, AlertItem] = {}
    dropped: list[int] = []
    for claim in leased:
        expires = current.get((claim.channel_id, claim.contact_id, claim.kind))
        if expires is None or expires > claim.expires_at:
            dropped.append(claim.id)
            continue
        contact = contacts.get(claim.contact_id)
        previous = last.get((claim.channel_id, claim.contact_id))
        channel = config.channel(claim.channel_id)
        items[claim.id] = AlertItem(
            kind=claim.kind,
            channel_id=claim.channel_id,
            channel_name=channel.name if channel is not None else claim.channel_id,
            contact_e164=_contact_e164(contact) if contact is not None else None,
            contact_name=contact.name if contact is not None else None,
            expires_at=claim.expires_at,
            team_id=_button_team(config, claim, previous),
            last_agent=previous.agent_user_id if previous else None,
            last_sent=(previous.template_name or previous.text) if previous else None,
            last_sent_kind=previous.kind if previous else None,
            last_sent_at=previous.created_at if previous else None,
        )
    return items, dropped


def _button_team(config: Any, claim: _Leased, previous: _Last | None) -> str | None:
    """The team the resume button opens the screen as: the one the alert went to."""
    if previous is not None and config.team(previous.team_id) is not None:
        return previous.team_id
    teams = _teams_for_channel(config, claim.channel_id)
    for team in teams:
        if team.alert_channel == claim.slack_channel:
            return str(team.id)
    return str(teams[0].id) if teams else None


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, value in dict(headers).items():
        if str(name).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def _describe(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    error = None
    data = getattr(response, "data", None)
    if isinstance(data, dict):
        error = data.get("error")
    return f"{type(exc).__name__} status={status} error={error}"


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """When to try again after the `attempts`-th failure: Slack's Retry-After if it gave one,
    else 30 s doubling per attempt up to 30 min."""
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    step = BACKOFF_BASE * (2 ** max(0, attempts - 1))
    return min(step, BACKOFF_MAX)


def _mark_posted(session: Session, ids: Sequence[int], ts: str | None, now: datetime) -> None:
    table: Table = AlertClaim.__table__  # type: ignore[assignment]
    session.execute(
        update(table)
        .where(table.c.id.in_(ids), table.c.posted_at.is_(None))
        .values(posted_at=now, slack_ts=ts, lease_until=None)
    )


def _mark_failed(
    session: Session, claims: Sequence[_Leased], now: datetime, retry_after: float | None
) -> None:
    table: Table = AlertClaim.__table__  # type: ignore[assignment]
    for claim in claims:
        attempts = claim.attempts + 1
        session.execute(
            update(table)
            .where(table.c.id == claim.id, table.c.posted_at.is_(None))
            .values(attempts=attempts, next_attempt_at=now + backoff(attempts, retry_after), lease_until=None)
        )


async def _post_channel(
    rt: Runtime,
    client: AsyncWebClient,
    slack_channel: str,
    claims: list[_Leased],
    items: dict[int, AlertItem],
    now: datetime,
    result: ScanResult,
) -> None:
    """Post the digest(s) of one Slack channel; on failure schedule every remaining claim."""
    claims = sorted(claims, key=lambda c: (items[c.id].expires_at, c.id))
    chunks = [claims[i : i + DIGEST_MAX_ITEMS] for i in range(0, len(claims), DIGEST_MAX_ITEMS)]
    for index, chunk in enumerate(chunks):
        text, blocks = alert_digest(rt.config.language, [items[c.id] for c in chunk], now)
        try:
            response = await client.chat_postMessage(
                channel=slack_channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # SlackApiError (5xx, 429, ok: false), network errors, timeouts
            rest = [c for chunk_ in chunks[index:] for c in chunk_]
            retry_after = _retry_after(exc)
            await asyncio.to_thread(_in_session, rt, _mark_failed, rest, now, retry_after)
            result.failed += len(rest)
            log.warning(
                "expiry alert digest to %s failed (%s); %d alert(s) retried later",
                slack_channel,
                _describe(exc),
                len(rest),
            )
            return
        ts = response.get("ts") if hasattr(response, "get") else None
        await asyncio.to_thread(_in_session, rt, _mark_posted, [c.id for c in chunk], ts, now)
        result.posted += len(chunk)
        result.messages += 1
        for c in chunk:
            phone = items[c.id].contact_e164
            log.info(
                "expiry alert posted to %s: %s %s expires %s",
                slack_channel,
                c.kind,
                mask_phone(phone) if phone else "-",
                c.expires_at.isoformat(),
            )


def _in_session(rt: Runtime, fn: Any, *args: Any) -> Any:
    with rt.store.session() as session:
        return fn(session, *args)


@dataclass
class ScanCursor:
    """What one process remembers between scans so each scan reads only windows that became due
    since the previous one. A full sweep runs first, then every FULL_SWEEP_EVERY: it catches
    windows that arrived already inside a scanned range (a customer message delivered hours late
    by a BSP's retries), at most that late."""

    last_now: datetime | None = None
    last_full: datetime | None = None

    def since_for(self, now: datetime) -> datetime | None:
        """The previous scan's time, or None when this scan must be a full sweep."""
        if self.last_now is None or self.last_full is None or now <= self.last_now:
            return None
        if now - self.last_full >= FULL_SWEEP_EVERY:
            return None
        return self.last_now

    def scanned(self, now: datetime, *, full: bool) -> None:
        self.last_now = now
        if full:
            self.last_full = now


# A window that shows up already inside a scanned range is alerted within this time.
FULL_SWEEP_EVERY = timedelta(minutes=5)


def _claim_and_lease(
    rt: Runtime,
    now: datetime,
    instance_id: str,
    result: ScanResult,
    claim: bool,
    cursor: ScanCursor | None = None,
) -> tuple[list[_Leased], dict[int, AlertItem]]:
    if claim:
        since = cursor.since_for(now) if cursor is not None else None
        with rt.store.session() as session:
            claim_due(session, rt.config, now, result, since=since)
        if cursor is not None:
            cursor.scanned(now, full=since is None)
    with rt.store.session() as session:
        leased = _lease(session, now, instance_id)
    if not leased:
        return [], {}
    with rt.store.session() as session:
        items, dropped = _items_for(session, rt.config, leased, now, result)
        if dropped:
            _mark_posted(session, dropped, None, now)
            result.superseded += len(dropped)
    return [c for c in leased if c.id in items], items


def default_instance_id() -> str:
    """Who holds a lease (for the logs and the claim rows): host, process and a random part."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def run_scan(
    rt: Runtime,
    client: AsyncWebClient,
    *,
    now: datetime | None = None,
    instance_id: str | None = None,
    cursor: ScanCursor | None = None,
) -> ScanResult:
    """Claim the windows due now, then post every pending claim whose turn has come (also ones a
    dead instance left leased, once the lease ran out): one digest per Slack channel."""
    now = now or rt.now()
    if now.tzinfo is None:
        raise ValueError("run_scan needs an aware UTC `now`")
    now = now.astimezone(UTC)
    instance_id = instance_id or default_instance_id()
    result = ScanResult()
    for round_ in range(MAX_ROUNDS):
        leased, items = await asyncio.to_thread(
            _claim_and_lease, rt, now, instance_id, result, round_ == 0, cursor
        )
        if not leased:
            break
        by_channel: dict[str, list[_Leased]] = defaultdict(list)
        for claim in leased:
            by_channel[claim.slack_channel].append(claim)
        for slack_channel, claims in by_channel.items():
            await _post_channel(rt, client, slack_channel, claims, items, now, result)
        if len(leased) < LEASE_BATCH:
            break
    return result


def start_scheduler(rt: Runtime, client: AsyncWebClient) -> AsyncIOScheduler:
    """Start the scan on the running event loop every `alerts.scan_seconds` (first run now).
    One scan at a time (max_instances=1, coalesce): a slow Slack never stacks scans. The caller
    shuts the scheduler down."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    instance_id = default_instance_id()
    cursor = ScanCursor()

    async def tick() -> None:
        try:
            result = await run_scan(rt, client, instance_id=instance_id, cursor=cursor)
        except Exception:  # the next tick tries again; never let the job die silently
            log.exception("expiry alert scan failed")
            return
        if result.claimed or result.posted or result.failed:
            log.info(
                "expiry scan: %d claimed, %d posted in %d message(s), %d to retry, %d superseded",
                result.claimed,
                result.posted,
                result.messages,
                result.failed,
                result.superseded,
            )

    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(
        tick,
        "interval",
        seconds=rt.config.alerts.scan_seconds,
        id="expiry_alerts",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
        misfire_grace_time=None,
    )
    scheduler.start()
    return scheduler


def due_items(
    rt: Runtime, team_channels: Iterable[str], now: datetime, horizon: timedelta, *, limit: int = 1000
) -> list[AlertItem]:
    """Windows of these WhatsApp channels closing within `horizon` (App Home), soonest first.
    The button's team is left for the caller to fill in."""
    channels = list(team_channels)
    if not channels:
        return []
    with rt.store.session() as session:
        rows = session.execute(
            select(Window, Contact)
            .join(Contact, Contact.id == Window.contact_id)
            .where(
                Window.channel_id.in_(channels),
                Window.expires_at > now,
                Window.expires_at <= now + horizon,
                Window.kind.in_(KINDS),
            )
            .order_by(Window.expires_at, Window.id)
            .limit(limit)
        ).all()
        last = _last_outbound(session, {(w.channel_id, w.contact_id) for w, _ in rows})
    items = []
    for window, contact in rows:
        previous = last.get((window.channel_id, window.contact_id))
        channel = rt.config.channel(window.channel_id)
        items.append(
            AlertItem(
                kind=window.kind,
                channel_id=window.channel_id,
                channel_name=channel.name if channel is not None else window.channel_id,
                contact_e164=_contact_e164(contact),
                contact_name=contact.name,
                expires_at=window.expires_at,
                team_id=None,
                last_agent=previous.agent_user_id if previous else None,
                last_sent=(previous.template_name or previous.text) if previous else None,
                last_sent_kind=previous.kind if previous else None,
                last_sent_at=previous.created_at if previous else None,
            )
        )
    return items
