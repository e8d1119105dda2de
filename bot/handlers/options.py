"""The contact search (external_select): known contacts by name or number."""

from __future__ import annotations

import asyncio
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.blocks import modal
from bot.blocks.state import INVALID_CONTACT_PREFIX
from bot.blocks.text import Texts, cut
from bot.core.screen import display_number, looks_like_number, search_known
from bot.handlers.flow import HandlerContext
from bot.rules import phones

MAX_OPTIONS = 100  # Slack's cap for a select
OPTION_VALUE = 150


def contact_options(ctx: HandlerContext, query: str) -> list[dict[str, Any]]:
    """Options for the contact field: a typed valid number first ("Usar +55 11 98888-7777",
    normalised, 9th digit aware), then matching known contacts. A number that cannot be sent to
    is offered as a warning: choosing it shows why, and the submit answers a field error."""
    tx = Texts(ctx.rt.config.language)
    options: list[dict[str, Any]] = []
    seen: set[str] = set()
    try:
        typed: str | None = phones.normalize_phone(query)
    except phones.InvalidPhone:
        typed = None
        if looks_like_number(query):
            value = (INVALID_CONTACT_PREFIX + query)[:OPTION_VALUE]
            label = tx.t("screen.contact.invalid_option", typed=query)
            options.append({"text": {"type": "plain_text", "text": cut(label, 75)}, "value": value})
    if typed:
        options.append(
            {
                "text": {
                    "type": "plain_text",
                    "text": cut(tx.t("screen.contact.use_number", number=display_number(typed)), 75),
                },
                "value": typed,
            }
        )
        seen.add(phones.phone_key(typed))
    for e164, name in search_known(ctx.rt, query, limit=MAX_OPTIONS):
        key = phones.phone_key(e164)
        if key in seen:
            continue
        seen.add(key)
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
