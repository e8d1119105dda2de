"""Messages in the confirmation's thread (`message.im`, `message.channels`, `message.groups`) and
the conversation buttons ("Responder", "Escolher um modelo"). Thin: the rules are in
bot.core.conversation_reply."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.conversation import REPLY_ACTION_ID, TEMPLATES_ACTION_ID
from bot.blocks.state import ScreenInputs
from bot.core.conversation_reply import handle_thread_message, thread_message
from bot.handlers.flow import HandlerContext
from bot.rules.events import Category

log = logging.getLogger(__name__)


def register(app: AsyncApp, ctx: HandlerContext) -> None:
    async def message(event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        found = thread_message(event, body.get("event_id"))
        if found is None:
            return
        members = await ctx.members(client)
        await handle_thread_message(ctx.rt, client, found, members)

    async def open_from_thread(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        action = body["actions"][0]
        try:
            value = json.loads(action.get("value") or "{}")
        except json.JSONDecodeError:
            value = {}
        inputs = ScreenInputs(
            contact_query=value.get("contact"),
            contact_e164=value.get("contact"),
            team_id=value.get("team"),
            channel_id=value.get("channel"),
            # "Responder": free text (the service category); the closed window's button: templates.
            category=Category.SERVICE if action.get("action_id") == REPLY_ACTION_ID else None,
        )
        await ctx.open_screen(client, body["trigger_id"], body["user"]["id"], inputs)

    app.event("message")(message)
    app.action(REPLY_ACTION_ID)(open_from_thread)
    app.action(TEMPLATES_ACTION_ID)(open_from_thread)
