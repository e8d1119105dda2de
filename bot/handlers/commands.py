"""`/contato [phone or name]`: open the screen at once."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.blocks.state import ScreenInputs
from bot.handlers.flow import HandlerContext

COMMAND = "/contato"

log = logging.getLogger(__name__)


def register(app: AsyncApp, ctx: HandlerContext) -> None:
    async def contato(
        ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        started = time.perf_counter()
        await ack()
        query = (command.get("text") or "").strip() or None
        inputs = ScreenInputs(contact_query=query, origin_channel=command.get("channel_id"))
        try:
            await ctx.open_screen(client, command["trigger_id"], command["user_id"], inputs)
            metrics.CONTATO_LATENCY.observe(time.perf_counter() - started)
        except SlackApiError as exc:
            # e.g. expired_trigger_id after a slow network: say so where the agent typed.
            error = str(exc.response.get("error") or "slack_error")
            log.warning("/contato: views.open failed: %s", error)
            await respond(
                text=ctx.rt.catalog.t("messages.errors.screen_failed", error=error), response_type="ephemeral"
            )

    app.command(COMMAND)(contato)
