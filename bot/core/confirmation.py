"""The agent's confirmation message: posted after a send, updated as delivery statuses arrive.

Used by the submission handler (post) and by webhook ingestion (update), so it lives outside
`handlers/`. One message per outbound message, kept in `outbound_messages.slack_channel/slack_ts`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.messages import Confirmation, confirmation
from bot.bsp import registry
from bot.bsp.base import BspError
from bot.core.screen import display_number
from bot.rules.events import Category
from bot.rules.pricing import Charge
from bot.rules.templates import render_preview
from bot.runtime import Runtime
from bot.store import repository
from bot.store.models import Contact, OutboundMessage

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
        row = session.get(OutboundMessage, outbound_id)
        if row is None:
            return None
        contact = session.get(Contact, row.contact_id)
        number = display_number(contact.e164) if contact and contact.e164 else ""
        contact_label = f"{contact.name} · {number}" if contact and contact.name else number
        channel = rt.config.channel(row.channel_id)
        preview = row.text or ""
        if row.kind == "template" and row.template_name:
            cached = rt.templates.get(row.channel_id, revalidate=False).templates
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
        )
    return confirmation(rt.config.language, info)


async def post_confirmation(rt: Runtime, client: AsyncWebClient, outbound_id: int, user_id: str) -> None:
    """Post the confirmation to the agent (the app's DM) and remember where it is."""
    message = confirmation_message(rt, outbound_id)
    if message is None:
        return
    text, blocks = message
    response = await client.chat_postMessage(channel=user_id, text=text, blocks=blocks)
    with rt.store.session() as session:
        repository.set_confirmation(session, outbound_id, response["channel"], response["ts"])


async def update_confirmations(rt: Runtime, client: AsyncWebClient, outbound_ids: Iterable[int]) -> None:
    """Redraw the confirmations whose message changed status. A Slack failure is logged: the next
    status redraws from the database, so nothing is lost for good."""
    for outbound_id in dict.fromkeys(outbound_ids):
        with rt.store.session() as session:
            row = session.get(OutboundMessage, outbound_id)
            where = (row.slack_channel, row.slack_ts) if row is not None else (None, None)
        if not where[0] or not where[1]:
            continue
        message = confirmation_message(rt, outbound_id)
        if message is None:
            continue
        text, blocks = message
        try:
            await client.chat_update(channel=where[0], ts=where[1], text=text, blocks=blocks)
        except SlackApiError as exc:
            log.warning("chat.update for outbound %s failed: %s", outbound_id, exc.response.get("error"))
