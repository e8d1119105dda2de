"""Changes inside the screen (contact, team, channel, category, template, refresh) and the
"Retomar contato" button of alerts and App Home."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import modal
from bot.blocks.state import ScreenInputs, picked_contact, read_inputs
from bot.core.alerts import RESUME_ACTION_ID
from bot.handlers.flow import HandlerContext
from bot.rules.events import Category

log = logging.getLogger(__name__)

SCREEN_ACTIONS = re.compile(
    "^({})$".format(
        "|".join(
            re.escape(a)
            for a in (
                modal.ACTION_CONTACT,
                modal.ACTION_CONTACT_SEARCH,
                modal.ACTION_TEAM,
                modal.ACTION_CHANNEL,
                modal.ACTION_CATEGORY,
                modal.ACTION_TEMPLATE,
                modal.ACTION_SHOW_PICKERS,
                # Enter in a variable or media input, or "Atualizar prévia": redraw the preview.
                modal.ACTION_VARIABLE,
                modal.ACTION_MEDIA,
                modal.ACTION_UPDATE_PREVIEW,
            )
        )
    )
)


def apply_action(inputs: ScreenInputs, action: dict[str, Any]) -> ScreenInputs:
    """What the changed element means for the rest of the screen."""
    action_id = action.get("action_id")
    selected = (action.get("selected_option") or {}).get("value")
    if action_id == modal.ACTION_CONTACT:
        inputs.contact_query = (action.get("value") or "").strip() or None
        inputs.contact_e164 = None
        inputs.contact_typed = action.get("value") or ""
    elif action_id == modal.ACTION_CONTACT_SEARCH:
        if selected:
            inputs.contact_e164, inputs.contact_query = picked_contact(selected)
        inputs.contact_picked = selected
    elif action_id == modal.ACTION_SHOW_PICKERS:
        inputs.show_pickers = True
    elif action_id == modal.ACTION_TEAM:
        inputs.team_id = selected
        inputs.template_key = None
    elif action_id == modal.ACTION_CHANNEL:
        inputs.channel_id = selected
        inputs.template_key = None
    elif action_id == modal.ACTION_CATEGORY:
        inputs.category = Category(selected) if selected in {c.value for c in Category} else None
        inputs.template_key = None
    elif action_id == modal.ACTION_TEMPLATE:
        inputs.template_key = selected
    return inputs


def register(app: AsyncApp, ctx: HandlerContext) -> None:
    async def screen_changed(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        view = body["view"]
        inputs = apply_action(read_inputs(view), body["actions"][0])
        await ctx.update_view(client, body["user"]["id"], view, inputs)

    async def refresh_templates(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        view = body["view"]
        inputs = read_inputs(view)
        if inputs.channel_id:
            try:
                await ctx.rt.templates.refresh(inputs.channel_id)
            except Exception:  # the view says "could not load" with the button again
                log.warning("template refresh for %s failed", inputs.channel_id)
        await ctx.update_view(client, body["user"]["id"], view, inputs)

    async def resume_contact(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        try:
            value = json.loads(body["actions"][0].get("value") or "{}")
        except json.JSONDecodeError:
            value = {}
        inputs = ScreenInputs(
            contact_query=value.get("contact"),
            contact_e164=value.get("contact"),
            team_id=value.get("team"),
            channel_id=value.get("channel"),
        )
        await ctx.open_screen(client, body["trigger_id"], body["user"]["id"], inputs)

    app.action(SCREEN_ACTIONS)(screen_changed)
    app.action(modal.ACTION_REFRESH_TEMPLATES)(refresh_templates)
    app.action(RESUME_ACTION_ID)(resume_contact)
