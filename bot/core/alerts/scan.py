"""The expiry scan's database side: claim the windows due now, lease the claims whose turn has
come, and describe each leased claim as a digest item (or drop it when the window moved on).
Time is passed in (`now`); nothing here reads a clock.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from bot.blocks.alerts import AlertItem
from bot.rules.phones import wa_id_to_e164
from bot.store import alert_claims, contacts, windows
from bot.store.alert_claims import AlertRoute, LeasedClaim
from bot.store.models import Contact
from bot.store.outbound import LastSend, last_sends

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # longer than a few Slack calls with their timeouts
LEASE_BATCH = 500  # claims leased per round; a scan takes more rounds while some are left

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
    expired: int = 0  # claims dropped because the window closed before they could be posted
    given_up: int = 0  # claims whose posts failed for longer than alerts.give_up_after_minutes
    skipped_teams: list[str] = field(default_factory=list)  # teams without an alert_channel


# ---- which team, which Slack channel ---------------------------------------------------------


def _teams_for_channel(config: Any, channel_id: str) -> list[Any]:
    finder = getattr(config, "teams_for_channel", None)
    if finder is not None:
        return list(finder(channel_id))
    return [team for team in config.teams if channel_id in team.channels]


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
    many are new. Due: now < expires_at <= now + the team's alert_lead_minutes. The team: the one
    whose agent last wrote to the customer, else every team that owns the WhatsApp channel; teams
    without an alert_channel are skipped (and warned about once). All of it is one set-based
    INSERT .. SELECT in the database (`store.alert_claims.claim_due_windows`).

    With `since` (the previous scan's `now`), only windows that *became* due since then are read:
    for each lead L, expiries in (since + L, now + L]. Every expiry crosses each lead's moving
    edge in exactly one scan, so nothing is skipped, and a scan reads hundreds of rows instead of
    every window closing within the hour. Windows that arrive already past an edge (a customer
    message the BSP delivered hours late, a replay) are in `window_due_queue`, which ingestion
    fills and every scan empties: they are claimed by the next scan. Without `since`, everything
    due is read (the first scan of a process). The unique claim key keeps it exactly-once."""
    result = result if result is not None else ScanResult()
    teams = list(config.teams)
    _note_teams_without_alert_channel(teams, result.skipped_teams)
    alerting = [team for team in teams if team.alert_channel and team.alert_lead_minutes > 0]
    if not alerting:
        return 0
    leads = sorted({team.alert_lead_minutes for team in alerting})
    if since is None or since >= now:
        edges: list[tuple[datetime | None, datetime]] = [(None, now + timedelta(minutes=leads[-1]))]
    else:
        edges = [(since + timedelta(minutes=lead), now + timedelta(minutes=lead)) for lead in leads]
    new = alert_claims.claim_due_windows(
        session,
        now,
        routes=[
            AlertRoute(
                team.id,
                team.alert_channel,
                now + timedelta(minutes=team.alert_lead_minutes),
                tuple(team.channels),
            )
            for team in alerting
        ],
        known_teams=[team.id for team in teams],
        edges=edges,
        scan_id=uuid.uuid4().hex,
    )
    result.claimed += new
    return new


def _note_teams_without_alert_channel(teams: Iterable[Any], skipped: list[str]) -> None:
    """Teams without an alert_channel: listed in the scan's result, warned about once per process."""
    for team in teams:
        if team.alert_channel:
            continue
        if team.id not in skipped:
            skipped.append(team.id)
        if team.id not in _warned_teams:
            _warned_teams.add(team.id)
            log.warning("team %s has no alert_channel: its expiry alerts are not posted", team.id)


# ---- 2. lease --------------------------------------------------------------------------------


def lease(session: Session, now: datetime, instance_id: str, limit: int = LEASE_BATCH) -> list[LeasedClaim]:
    """Lease the claims whose turn has come, for LEASE (committed by the caller before posting)."""
    return alert_claims.lease_claims(session, now, now + LEASE, instance_id, limit)


# ---- 3. what each claim says -----------------------------------------------------------------


def _items_for(
    session: Session, config: Any, leased: Sequence[LeasedClaim], now: datetime, result: ScanResult
) -> tuple[dict[int, AlertItem], list[int], list[LeasedClaim]]:
    """The digest item of each leased claim, the claims to drop without posting (the window was
    extended, its own claim will come, or is gone: the ad lead was answered), and those whose
    window has closed meanwhile (a retry that came too late): an alert about a window that has
    already closed would only mislead, so it is never posted late."""
    contact_ids = {claim.contact_id for claim in leased}
    known = contacts.contacts_by_id(session, contact_ids)
    current = windows.expiries_of(session, contact_ids)
    last = last_sends(session, {(claim.channel_id, claim.contact_id) for claim in leased})
    items: dict[int, AlertItem] = {}
    dropped: list[int] = []
    expired: list[LeasedClaim] = []
    for claim in leased:
        expires = current.get((claim.channel_id, claim.contact_id, claim.kind))
        if expires is None or expires > claim.expires_at:
            dropped.append(claim.id)
            continue
        if claim.expires_at <= now:
            expired.append(claim)
            continue
        previous = last.get((claim.channel_id, claim.contact_id))
        items[claim.id] = _item(
            config,
            claim.kind,
            claim.channel_id,
            known.get(claim.contact_id),
            claim.expires_at,
            _button_team(config, claim, previous),
            previous,
        )
    return items, dropped, expired


def _item(
    config: Any,
    kind: str,
    channel_id: str,
    contact: Contact | None,
    expires_at: datetime,
    team_id: str | None,
    previous: LastSend | None,
) -> AlertItem:
    """What an alert (or App Home) says of one window: the contact and who wrote to them last."""
    channel = config.channel(channel_id)
    return AlertItem(
        kind=kind,
        channel_id=channel_id,
        channel_name=channel.name if channel is not None else channel_id,
        contact_e164=_contact_e164(contact) if contact is not None else None,
        contact_name=contact.name if contact is not None else None,
        expires_at=expires_at,
        team_id=team_id,
        last_agent=previous.agent_user_id if previous else None,
        last_sent=(previous.template_name or previous.text) if previous else None,
        last_sent_kind=previous.kind if previous else None,
        last_sent_at=previous.created_at if previous else None,
    )


def _button_team(config: Any, claim: LeasedClaim, previous: LastSend | None) -> str | None:
    """The team the resume button opens the screen as: the one the alert went to."""
    if previous is not None and config.team(previous.team_id) is not None:
        return previous.team_id
    teams = _teams_for_channel(config, claim.channel_id)
    for team in teams:
        if team.alert_channel == claim.slack_channel:
            return str(team.id)
    return str(teams[0].id) if teams else None


@dataclass
class ScanCursor:
    """What one process remembers between scans so each scan reads only the windows that became
    due since the previous one: the previous scan's `now`. The first scan of a process reads
    everything due (nothing is remembered across restarts); after that, windows that arrive
    already inside a scanned range come through `window_due_queue`, so no periodic full sweep."""

    last_now: datetime | None = None

    def since_for(self, now: datetime) -> datetime | None:
        """The previous scan's time, or None when this scan must read everything due (the first
        one, or the clock went back)."""
        if self.last_now is None or now <= self.last_now:
            return None
        return self.last_now

    def scanned(self, now: datetime, *, full: bool = False) -> None:
        """This scan's claims are committed: the next one reads from `now` on. (`full` is
        accepted for callers that say which kind of scan it was; it changes nothing.)"""
        self.last_now = now


def claim_and_lease(
    rt: Runtime,
    now: datetime,
    instance_id: str,
    result: ScanResult,
    claim: bool,
    cursor: ScanCursor | None = None,
) -> tuple[list[LeasedClaim], dict[int, AlertItem]]:
    """One round's database side, each step in its own transaction: claim what became due (first
    round only), lease what is this instance's turn, and drop the leased claims whose window moved
    on. Returns the claims to post and their items."""
    if claim:
        since = cursor.since_for(now) if cursor is not None else None
        with rt.store.session() as session:
            claim_due(session, rt.config, now, result, since=since)
        if cursor is not None:
            cursor.scanned(now)
    with rt.store.session() as session:
        leased = lease(session, now, instance_id)
    if not leased:
        return [], {}
    with rt.store.session() as session:
        items, dropped, expired = _items_for(session, rt.config, leased, now, result)
        if dropped:
            alert_claims.mark_posted(session, dropped, None, now)
            result.superseded += len(dropped)
        if expired:
            alert_claims.mark_posted(session, [c.id for c in expired], None, now, outcome="expired")
            result.expired += len(expired)
    for late in expired:
        log.warning(
            "expiry alert to %s dropped: the %s window closed at %s before it could be posted "
            "(%d failed attempt(s))",
            late.slack_channel,
            late.kind,
            late.expires_at.isoformat(),
            late.attempts,
        )
    return [c for c in leased if c.id in items], items


def due_items(
    rt: Runtime, team_channels: Iterable[str], now: datetime, horizon: timedelta, *, limit: int = 1000
) -> list[AlertItem]:
    """Windows of these WhatsApp channels closing within `horizon` (App Home), soonest first.
    The button's team is left for the caller to fill in."""
    channels = list(team_channels)
    if not channels:
        return []
    with rt.store.read_session() as session:
        rows = windows.closing_windows(session, channels, now, now + horizon, limit)
        last = last_sends(session, {(w.channel_id, w.contact_id) for w, _ in rows})
    return [
        _item(
            rt.config,
            window.kind,
            window.channel_id,
            contact,
            window.expires_at,
            None,
            last.get((window.channel_id, window.contact_id)),
        )
        for window, contact in rows
    ]
