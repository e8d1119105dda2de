"""The expiry alert digest: one Slack message listing the windows about to close (pure, no I/O).

Each window is ONE section block (text + "Retomar contato" button as its accessory), so a digest
holds up to `DIGEST_MAX_ITEMS` windows within Slack's 50 blocks per message; more than that are
summed up as "+N more" (the scanner never hands over more than fit, so nothing is hidden).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.blocks.text import (
    DEFAULT_TIMEZONE,
    Texts,
    cut,
    display_phone,
    escape_mrkdwn,
    mrkdwn,
    plain,
    single_line,
)

RESUME_ACTION_ID = "resume_contact"  # the handler in bot.handlers.actions listens to this id
MESSAGE_BLOCK_LIMIT = 50  # Slack: blocks per message
# header + items + the "+N more" context: never over the limit.
DIGEST_MAX_ITEMS = MESSAGE_BLOCK_LIMIT - 2
BUTTON_VALUE_LIMIT = 2000
HEADER_LIMIT = 150
FALLBACK_LIMIT = 3000
SENT_SUMMARY_LIMIT = 80  # the last template name / text shown in an item
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")  # only these are safe to put in <@...>


@dataclass(frozen=True)
class AlertItem:
    """One window about to close, with what the supervisor needs to act on it."""

    kind: str  # customer_care | ctwa | ctwa_pending
    channel_id: str
    channel_name: str
    contact_e164: str | None
    contact_name: str | None
    expires_at: datetime
    team_id: str | None
    last_agent: str | None = None  # Slack user id of the last agent who sent through the app
    last_sent: str | None = None  # template name, or the start of a free text
    last_sent_kind: str | None = None  # template | text
    last_sent_at: datetime | None = None


def resume_value(channel_id: str, contact_e164: str, team_id: str | None) -> str:
    """The button's value: what the screen is prefilled with (JSON, at most 2,000 characters)."""
    value = json.dumps(
        {"channel": channel_id, "contact": contact_e164, "team": team_id}, separators=(",", ":")
    )
    if len(value) > BUTTON_VALUE_LIMIT:  # ids are short; never send Slack something it refuses
        value = json.dumps({"channel": channel_id[:200], "contact": contact_e164[:32], "team": None})
    return value


def resume_button(texts: Texts, item: AlertItem) -> dict[str, Any] | None:
    """The "Retomar contato" button, or None when the contact has no phone number to prefill."""
    if not item.contact_e164:
        return None
    return {
        "type": "button",
        "action_id": RESUME_ACTION_ID,
        "text": plain(texts.t("alerts.button.resume"), 75),
        "style": "primary",
        "value": resume_value(item.channel_id, item.contact_e164, item.team_id),
    }


def _who(item: AlertItem, texts: Texts) -> str:
    name = single_line(item.contact_name or "")
    phone = display_phone(item.contact_e164) if item.contact_e164 else texts.t("alerts.item.no_phone")
    if name:
        return escape_mrkdwn(f"{cut(name, 80)} ({phone})")
    return escape_mrkdwn(phone)


def _when(item: AlertItem, texts: Texts, now: datetime) -> str:
    at = texts.time(item.expires_at)
    if item.expires_at <= now:
        ago = texts.remaining((now - item.expires_at).total_seconds())
        return texts.t(f"alerts.item.closed.{item.kind}", at=at, ago=ago)
    left = texts.remaining((item.expires_at - now).total_seconds())
    return texts.t(f"alerts.item.left.{item.kind}", left=left, at=at)


def _last(item: AlertItem, texts: Texts) -> str:
    if not item.last_agent:
        return texts.t("alerts.item.no_last")
    agent = escape_mrkdwn(item.last_agent)
    if _SLACK_USER_ID.match(item.last_agent):
        agent = f"<@{item.last_agent}>"
    sent = escape_mrkdwn(cut(single_line(item.last_sent or ""), SENT_SUMMARY_LIMIT))
    at = texts.time(item.last_sent_at) if item.last_sent_at else ""
    if sent and item.last_sent_kind == "template":
        return texts.t("alerts.item.last_template", agent=agent, template=sent, at=at)
    if sent:
        return texts.t("alerts.item.last_text", agent=agent, text=sent, at=at)
    return texts.t("alerts.item.last_agent_only", agent=agent, at=at)


def item_text(texts: Texts, item: AlertItem, now: datetime) -> str:
    """The mrkdwn of one window: who, which channel, what kind, time left, last agent and send."""
    title = texts.t(
        "alerts.item.title",
        who=_who(item, texts),
        channel=escape_mrkdwn(cut(single_line(item.channel_name), 80)),
        kind=texts.t(f"alerts.kind.{item.kind}"),
    )
    return "\n".join((title, _when(item, texts, now), _last(item, texts)))


def item_block(texts: Texts, item: AlertItem, now: datetime) -> dict[str, Any]:
    """One section: the window's text and, when there is a phone, the resume button."""
    block: dict[str, Any] = {"type": "section", "text": mrkdwn(item_text(texts, item, now))}
    button = resume_button(texts, item)
    if button is not None:
        block["accessory"] = button
    return block


def alert_digest(
    lang: str, items: list[AlertItem], now: datetime, tz: str = DEFAULT_TIMEZONE
) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text (notifications, screen readers) and the blocks of one digest message.

    Items are shown soonest-closing first; past `DIGEST_MAX_ITEMS` a context line says "+N more",
    so the message never breaks Slack's 50-block limit.
    """
    texts = Texts(lang, tz)
    ordered = sorted(items, key=lambda i: (i.expires_at, i.channel_id, i.contact_e164 or ""))
    shown, hidden = ordered[:DIGEST_MAX_ITEMS], ordered[DIGEST_MAX_ITEMS:]
    count = len(ordered)
    header_key = "alerts.digest.header_one" if count == 1 else "alerts.digest.header_many"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain(texts.t(header_key, count=count), HEADER_LIMIT)}
    ]
    blocks.extend(item_block(texts, item, now) for item in shown)
    if hidden:
        blocks.append(
            {"type": "context", "elements": [mrkdwn(texts.t("alerts.digest.more", count=len(hidden)))]}
        )
    names = escape_mrkdwn(
        ", ".join(
            single_line(i.contact_name or (display_phone(i.contact_e164) if i.contact_e164 else "?"))
            for i in ordered
        )
    )
    fallback = cut(texts.t("alerts.digest.fallback", count=count, names=names), FALLBACK_LIMIT)
    return fallback, blocks
