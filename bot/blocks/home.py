"""The App Home tab (pure): windows closing soon, the user's recent sends, today's estimated spend.

Slack allows 100 blocks in a Home view; the sections are capped so the view always fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.blocks.alerts import AlertItem, item_block
from bot.blocks.text import DEFAULT_TIMEZONE, Display, Texts, cut, escape_mrkdwn, mrkdwn, plain, single_line

VIEW_BLOCK_LIMIT = 100
HOME_MAX_WINDOWS = 30
HOME_MAX_SENDS = 10
HOME_MAX_SPEND_TEAMS = 20
STATUSES = ("pending", "sent", "delivered", "read", "failed", "unknown")
CATEGORIES = ("marketing", "utility", "authentication", "service")


@dataclass(frozen=True)
class SendRow:
    """One of the user's recent sends."""

    contact: str  # name or phone, as shown
    channel_name: str
    kind: str  # template | text
    template_name: str | None
    text: str | None
    status: str
    charge: str | None  # free | paid | unavailable | unknown
    estimated_price: float | None
    currency: str | None
    created_at: datetime


@dataclass(frozen=True)
class SpendRow:
    """Today's estimated spend of one team in one category and currency."""

    category: str
    currency: str | None
    amount: float
    count: int


@dataclass
class HomeData:
    """Everything the Home tab shows, gathered by bot.core.home."""

    teams: list[str]  # names of the user's teams
    horizon_hours: int
    windows: list[AlertItem] = field(default_factory=list)
    sends: list[SendRow] = field(default_factory=list)
    spend: dict[str, list[SpendRow]] = field(default_factory=dict)  # team name -> rows
    day: datetime | None = None  # start of "today" in the team's time zone, which the spend covers


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain(text, 150)}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(text)]}


def _send_text(texts: Texts, row: SendRow) -> str:
    what = row.template_name if row.kind == "template" and row.template_name else (row.text or "")
    what = escape_mrkdwn(cut(single_line(what), 80))
    if row.kind != "template":
        what = f"“{what}”"  # Texto: “Oi João!…”
    status_key = f"home.status.{row.status}"
    status = texts.t(status_key) if texts.catalog.has(status_key) else escape_mrkdwn(row.status)
    if row.status == "failed":
        cost = texts.t("home.sends.cost_failed")
    elif row.charge == "paid" and row.estimated_price is not None:
        cost = texts.t("home.sends.cost_paid", price=texts.price(row.estimated_price, row.currency))
    elif row.charge == "free":
        cost = texts.t("home.sends.cost_free")
    else:
        cost = texts.t("home.sends.cost_unknown")
    kind = texts.t("home.sends.template") if row.kind == "template" else texts.t("home.sends.text")
    return texts.t(
        "home.sends.item",
        contact=escape_mrkdwn(cut(single_line(row.contact), 80)),
        channel=escape_mrkdwn(cut(single_line(row.channel_name), 60)),
        kind=kind,
        what=what,
        status=status,
        cost=cost,
        at=texts.time(row.created_at),
    )


def _spend_text(texts: Texts, team: str, rows: list[SpendRow]) -> str:
    lines = [texts.t("home.spend.team", team=escape_mrkdwn(cut(single_line(team), 80)))]
    totals: dict[str | None, float] = {}
    for row in sorted(rows, key=lambda r: (r.category, r.currency or "")):
        key = f"home.category.{row.category}"
        category = texts.t(key) if texts.catalog.has(key) else escape_mrkdwn(row.category)
        shown = texts.price(row.amount, row.currency, total=True)
        lines.append(texts.t("home.spend.line", category=category, amount=shown, count=row.count))
        totals[row.currency] = totals.get(row.currency, 0.0) + row.amount
    for currency, amount in sorted(totals.items(), key=lambda kv: kv[0] or ""):
        lines.append(texts.t("home.spend.total", amount=texts.price(amount, currency, total=True)))
    return "\n".join(lines)


def home_blocks(
    lang: str, data: HomeData, now: datetime, tz: str = DEFAULT_TIMEZONE, display: Display = None
) -> dict[str, Any]:
    """The `home` view: never more than 100 blocks, every text within Slack's limits."""
    texts = Texts(lang, tz, display)
    blocks: list[dict[str, Any]] = [_header(texts.t("home.title"))]
    if not data.teams:
        blocks.append({"type": "section", "text": mrkdwn(texts.t("home.no_team"))})
        return {"type": "home", "blocks": blocks}
    teams = escape_mrkdwn(", ".join(single_line(t) for t in data.teams))
    blocks.append(_context(texts.t("home.teams", teams=cut(teams, 2000))))

    blocks.append(_header(texts.t("home.windows.title", hours=data.horizon_hours)))
    if data.windows:
        shown = data.windows[:HOME_MAX_WINDOWS]
        blocks.extend(item_block(texts, item, now) for item in shown)
        if len(data.windows) > len(shown):
            blocks.append(_context(texts.t("home.windows.more", count=len(data.windows) - len(shown))))
    else:
        blocks.append(_context(texts.t("home.windows.none", hours=data.horizon_hours)))

    blocks.append({"type": "divider"})
    blocks.append(_header(texts.t("home.sends.title")))
    if data.sends:
        blocks.extend(
            {"type": "section", "text": mrkdwn(_send_text(texts, row))} for row in data.sends[:HOME_MAX_SENDS]
        )
    else:
        blocks.append(_context(texts.t("home.sends.none")))

    blocks.append({"type": "divider"})
    blocks.append(_header(texts.t("home.spend.title")))
    spending = [(team, rows) for team, rows in data.spend.items() if rows]
    if spending:
        for team, rows in spending[:HOME_MAX_SPEND_TEAMS]:
            blocks.append({"type": "section", "text": mrkdwn(_spend_text(texts, team, rows))})
    else:
        blocks.append(_context(texts.t("home.spend.none")))
    blocks.append(_context(texts.t("home.spend.note")))
    return {"type": "home", "blocks": blocks[:VIEW_BLOCK_LIMIT]}
