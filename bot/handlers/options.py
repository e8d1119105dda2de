"""The contact search (external_select): known contacts by name or number."""

from __future__ import annotations

import asyncio
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.blocks import modal
from bot.blocks.text import cut
from bot.core.screen import display_number, search_known
from bot.handlers.flow import HandlerContext
from bot.rules import phones

MAX_OPTIONS = 100  # Slack's cap for a select


def contact_options(ctx: HandlerContext, query: str) -> list[dict[str, Any]]:
    """Options for the search box: a typed number first, then matching known contacts."""
    options: list[dict[str, Any]] = []
    seen: set[str] = set()
    try:
        typed = phones.normalize_phone(query)
    except phones.InvalidPhone:
        typed = None
    rows: list[tuple[str, str | None]] = search_known(ctx.rt, query, limit=MAX_OPTIONS)
    if typed:
        rows = [(typed, None), *rows]
    for e164, name in rows:
        if e164 in seen:
            continue
        seen.add(e164)
        label = f"{name} · {display_number(e164)}" if name else display_number(e164)
        options.append({"text": {"type": "plain_text", "text": cut(label, 75)}, "value": e164})
        if len(options) == MAX_OPTIONS:
            break
    return options


def register(app: AsyncApp, ctx: HandlerContext) -> None:
    async def search(ack: AsyncAck, body: dict[str, Any]) -> None:
        # The search reads the database: off the event loop.
        options = await asyncio.to_thread(contact_options, ctx, (body.get("value") or "").strip())
        await ack(options=options)

    app.options(modal.ACTION_CONTACT_SEARCH)(search)
