"""Messages to the agent (outside the modal): the send confirmation and short notices.

The confirmation is posted once after a send and redrawn in place as delivery statuses arrive,
so it is a pure function of what the database knows about the message now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.blocks.text import (
    DEFAULT_TIMEZONE,
    Display,
    Texts,
    charge_text,
    cut,
    escape_mrkdwn,
    mrkdwn,
    single_line,
)
from bot.rules import phones
from bot.rules.events import Category
from bot.rules.pricing import Charge

FALLBACK_TEXT = 3000  # notification text; Slack allows more, people read less
PREVIEW_TEXT = 2500
STATUSES = ("pending", "accepted", "sent", "delivered", "read", "failed", "unknown", "replied")
_PHONE_IN_LABEL = re.compile(r"\+[\d\s().-]{6,}")


@dataclass
class Confirmation:
    """What the agent sent and where it stands (built by `bot.core.confirmation` from the outbound row)."""

    kind: str  # "template" | "text"
    contact_label: str  # "Maria Silva · +55 11 98888-7777"
    channel_name: str
    bsp: str
    category: Category
    template_name: str | None
    language: str | None
    preview: str  # the rendered body, or the free text
    charge: Charge | None
    status: str  # pending | accepted | sent | delivered | read | failed | unknown
    error: str | None  # a sentence already translated (failed)
    at: datetime
    contact_e164: str | None = None  # for the price's country; else read from contact_label
    replied: bool = False  # the customer answered (posted in the thread): ranks above read


def _calling_code(info: Confirmation) -> str | None:
    candidates = [info.contact_e164] if info.contact_e164 else []
    candidates += _PHONE_IN_LABEL.findall(info.contact_label or "")
    for candidate in candidates:
        try:
            return phones.calling_code(candidate)
        except phones.InvalidPhone:
            continue
    return None


def _quote(text: str, limit: int) -> str:
    """User text as a mrkdwn block quote, escaped and cut."""
    escaped = cut(escape_mrkdwn(text.strip()), limit)
    return "\n".join("> " + line if line.strip() else ">" for line in escaped.splitlines()) or ">"


def status_line(tx: Texts, status: str, error: str | None) -> str:
    """The delivery status as mrkdwn: ✓ sent, ✓✓ delivered, read, failed + why, unknown + advice."""
    if status == "failed":
        if error:
            return tx.md("messages.status.failed", error=single_line(error))
        return tx.md("messages.status.failed_no_reason")
    if status in STATUSES:
        return tx.md(f"messages.status.{status}")
    return tx.md("messages.status.other", status=status)


def confirmation(
    lang: str, info: Confirmation, tz: str = DEFAULT_TIMEZONE, display: Display = None
) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and blocks of the confirmation: what, to whom, which channel, estimated
    cost, and a status line."""
    tx = Texts(lang, tz, display)
    category = tx.t(f"screen.category.{Category(info.category).value}")
    cost = charge_text(tx, info.charge, _calling_code(info)) if info.charge is not None else None
    if info.status == "failed":
        # Never delivered, so never billed: whatever the estimate was before.
        cost = tx.t("messages.confirmation.no_cost_failed")
    if info.kind == "template" and info.template_name:
        title = tx.md(
            "messages.confirmation.title_template",
            name=cut(single_line(info.template_name), 300),
            language=info.language or "",
            contact=cut(single_line(info.contact_label), 300),
        )
        what = info.template_name
    else:
        title = tx.md("messages.confirmation.title_text", contact=cut(single_line(info.contact_label), 300))
        what = tx.t("messages.confirmation.kind_text")
    # A channel named after its provider ("Sandbox") is named once.
    same = (info.bsp or "").casefold() in ("", single_line(info.channel_name).casefold())
    details = tx.md(
        "messages.confirmation.details_no_bsp" if same else "messages.confirmation.details",
        channel=cut(single_line(info.channel_name), 300),
        bsp=info.bsp or "",
        category=category,
    )
    if cost:
        details += "\n" + tx.md("messages.confirmation.cost", cost=cost)
    shown_status = "replied" if info.replied and info.status != "failed" else info.status
    status = status_line(tx, shown_status, info.error)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": mrkdwn(f"{title}\n{details}")},
    ]
    if info.preview.strip():
        blocks.append({"type": "section", "text": mrkdwn(_quote(info.preview, PREVIEW_TEXT))})
    blocks.append({"type": "section", "text": mrkdwn(status)})
    if info.status == "failed":
        blocks.append({"type": "context", "elements": [mrkdwn(tx.md("messages.status.failed_help"))]})
    blocks.append(
        {"type": "context", "elements": [mrkdwn(tx.md("messages.confirmation.at", time=tx.time(info.at)))]}
    )
    fallback = tx.t(
        "messages.confirmation.fallback",
        what=single_line(what),
        contact=single_line(info.contact_label),
        status=tx.t(f"messages.status_short.{shown_status}")
        if tx.catalog.has(f"messages.status_short.{shown_status}")
        else shown_status,
    )
    return cut(fallback, FALLBACK_TEXT), blocks


def agent_notice(lang: str, key: str, **params: Any) -> tuple[str, list[dict[str, Any]]]:
    """A short message to the agent (e.g. an error after the modal closed): text and one section.

    `key` is any catalogue key (`messages.*`, `screen.errors.*`); `params` are escaped.
    """
    tx = Texts(lang)
    text = tx.t(key, **params)
    return cut(text, FALLBACK_TEXT), [{"type": "section", "text": mrkdwn(tx.md(key, **params))}]
