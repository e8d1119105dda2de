"""`/contato [phone or name]`: open the screen at once."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.state import ScreenInputs
from bot.handlers.flow import HandlerContext

COMMAND = "/contato"


def register(app: AsyncApp, ctx: HandlerContext) -> None:
    async def contato(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        query = (command.get("text") or "").strip() or None
        inputs = ScreenInputs(contact_query=query, origin_channel=command.get("channel_id"))
        await ctx.open_screen(client, command["trigger_id"], command["user_id"], inputs)

    app.command(COMMAND)(contato)
