"""The agent's confirmation message: posted after a send, updated as delivery statuses arrive.

Used by the submission handler (post) and by webhook ingestion (update), so it lives outside
`handlers/`. One message per outbound message, kept in `outbound_messages.slack_channel/slack_ts`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.messages import Confirmation, confirmation
from bot.bsp import registry
from bot.bsp.base import BspError
from bot.core.screen import display_number, display_of
from bot.rules.events import Category
from bot.rules.pricing import Charge
from bot.rules.templates import render_preview
from bot.runtime import Runtime
from bot.store import contacts, conversation, outbound

log = logging.getLogger(__name__)


def error_sentence(rt: Runtime, code: str | None, detail: str | None) -> str | None:
    """A BSP error as a sentence for the agent, in the installation's language."""
    if not code:
        return None
    from bot.bsp.errors import explain

    return explain(BspError(code, detail or ""), rt.catalog)


def confirmation_message(rt: Runtime, outbound_id: int) -> tuple[str, list[dict[str, Any]]] | None:
    """Fallback text and blocks for the confirmation of one outbound message, as it stands now."""
    with rt.store.session() as session:
        sent = outbound.get_outbound(session, outbound_id)
    # Read outside the session below: the cache may look at the database itself, and a second
    # transaction inside a first one waits for SQLite's one write lock until the busy timeout.
    cached = []
    if sent is not None and sent.template_name:
        cached = rt.templates.get(sent.channel_id, revalidate=False).templates
    with rt.store.session() as session:
        row = outbound.get_outbound(session, outbound_id)
        if row is None:
            return None
        contact = contacts.get_contact(session, row.contact_id)
        number = display_number(contact.e164) if contact and contact.e164 else ""
        contact_label = f"{contact.name} · {number}" if contact and contact.name else number
        channel = rt.config.channel(row.channel_id)
        preview = row.text or ""
        if row.kind == "template" and row.template_name:
            template = next(
                (t for t in cached if t.name == row.template_name and t.language == row.language), None
            )
            if template is not None:
                preview = render_preview(template, dict(row.parameters or {})).body
        charge = Charge(row.charge, "", row.estimated_price, row.currency) if row.charge is not None else None
        info = Confirmation(
            kind=row.kind,
            contact_label=contact_label,
            contact_e164=contact.e164 if contact else None,
            channel_name=channel.name if channel else row.channel_id,
            bsp=registry.label(channel.bsp) if channel else "",
            category=Category(row.category),
            template_name=row.template_name,
            language=row.language,
            preview=preview,
            charge=charge,
            status=row.status,
            error=error_sentence(rt, row.error_code, row.error_detail),
            at=row.created_at,
            replied=conversation.customer_replied(session, outbound_id),
        )
    return confirmation(rt.config.language, info, rt.config.timezone, display_of(rt))


async def post_confirmation(rt: Runtime, client: AsyncWebClient, outbound_id: int, user_id: str) -> None:
    """Post the confirmation to the agent (the app's DM) and remember where it is. The database
    work runs off the event loop."""
    message = await asyncio.to_thread(confirmation_message, rt, outbound_id)
    if message is None:
        return
    text, blocks = message
    response = await client.chat_postMessage(channel=user_id, text=text, blocks=blocks)
    await asyncio.to_thread(_remember_place, rt, outbound_id, response["channel"], response["ts"])


def _remember_place(rt: Runtime, outbound_id: int, slack_channel: str, slack_ts: str) -> None:
    with rt.store.session() as session:
        outbound.set_confirmation(session, outbound_id, slack_channel, slack_ts)


def _place_and_message(
    rt: Runtime, outbound_id: int
) -> tuple[tuple[str, str], tuple[str, list[dict[str, Any]]]] | None:
    """Where the confirmation is and what it should say now (None: nothing to redraw)."""
    with rt.store.session() as session:
        where = outbound.confirmation_place(session, outbound_id)
    if where is None:
        return None
    message = confirmation_message(rt, outbound_id)
    return (where, message) if message is not None else None


async def update_confirmations(rt: Runtime, client: AsyncWebClient, outbound_ids: Iterable[int]) -> None:
    """Redraw the confirmations whose message changed status. A Slack failure is logged: the next
    status redraws from the database, so nothing is lost for good."""
    for outbound_id in dict.fromkeys(outbound_ids):
        found = await asyncio.to_thread(_place_and_message, rt, outbound_id)
        if found is None:
            continue
        where, (text, blocks) = found
        try:
            await client.chat_update(channel=where[0], ts=where[1], text=text, blocks=blocks)
        except SlackApiError as exc:
            log.warning("chat.update for outbound %s failed: %s", outbound_id, exc.response.get("error"))
