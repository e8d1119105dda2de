"""The App Home tab's data: gathered from the store for one user, drawn by bot.blocks.home."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.blocks.alerts import AlertItem
from bot.blocks.home import HOME_MAX_SENDS, HomeData, SendRow, SpendRow, home_blocks
from bot.blocks.text import display_phone
from bot.core.alerts import due_items
from bot.core.screen import display_of
from bot.store import outbound

if TYPE_CHECKING:
    from bot.runtime import Runtime

HOME_HORIZON = timedelta(hours=6)
HOME_WINDOWS_LOADED = 1000


def _windows(rt: Runtime, teams: list[Any], now: datetime) -> list[AlertItem]:
    """Windows of the user's teams' channels closing within the horizon; the button opens the
    screen as the first of the user's teams that owns the channel."""
    team_of: dict[str, str] = {}
    for team in teams:
        for channel_id in team.channels:
            team_of.setdefault(channel_id, team.id)
    # All of them (bounded), so the view can say how many it does not show.
    items = due_items(rt, team_of, now, HOME_HORIZON, limit=HOME_WINDOWS_LOADED)
    return [replace(item, team_id=team_of.get(item.channel_id)) for item in items]


def _sends(rt: Runtime, user_id: str) -> list[SendRow]:
    with rt.store.read_session() as session:
        rows = outbound.sends_of_agent(session, user_id, HOME_MAX_SENDS)
    sends = []
    for message, contact in rows:
        channel = rt.config.channel(message.channel_id)
        sends.append(
            SendRow(
                contact=contact.name or display_phone(contact.e164 or contact.wa_id or "?"),
                channel_name=channel.name if channel is not None else message.channel_id,
                kind=message.kind,
                template_name=message.template_name,
                text=message.text,
                status=message.status,
                charge=message.charge,
                estimated_price=message.estimated_price,
                currency=message.currency,
                created_at=message.created_at,
            )
        )
    return sends


def _spend(rt: Runtime, teams: list[Any], day: datetime) -> dict[str, list[SpendRow]]:
    """Today's (team's zone) estimated spend of each team: sum of paid sends' estimated prices."""
    ids = [team.id for team in teams]
    if not ids:
        return {}
    with rt.store.read_session() as session:
        rows = outbound.paid_spend(session, ids, day, day + timedelta(days=1))
    names = {team.id: team.name for team in teams}
    spend: dict[str, list[SpendRow]] = {names[i]: [] for i in ids}
    for team_id, category, currency, amount, count in rows:
        spend[names[team_id]].append(SpendRow(category, currency, amount, count))
    return spend


def home_data(
    rt: Runtime, user_id: str, usergroup_members: Mapping[str, set[str]], now: datetime
) -> HomeData:
    """What the user's Home tab shows at `now`."""
    teams = list(rt.config.teams_of_user(user_id, usergroup_members))
    # "Today" is the team's day (config `timezone`), not UTC's: a send at 22:30 in São Paulo is
    # 01:30 UTC the next day, and belongs to the day the agent lived it.
    local = now.astimezone(ZoneInfo(rt.config.timezone))
    day = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    return HomeData(
        teams=[team.name for team in teams],
        horizon_hours=int(HOME_HORIZON.total_seconds() // 3600),
        windows=_windows(rt, teams, now) if teams else [],
        sends=_sends(rt, user_id),
        # Every member of a team sees that team's spend (no separate supervisor role yet).
        spend=_spend(rt, teams, day),
        day=day,
    )


def home_view(
    rt: Runtime, user_id: str, usergroup_members: Mapping[str, set[str]], now: datetime
) -> dict[str, Any]:
    """The Slack `home` view for `user_id` (for views.publish)."""
    data = home_data(rt, user_id, usergroup_members, now)
    return home_blocks(rt.config.language, data, now, rt.config.timezone, display_of(rt))
