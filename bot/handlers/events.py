"""Events: App Home (`app_home_opened`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.handlers.flow import HandlerContext

log = logging.getLogger(__name__)


def register(app: AsyncApp, ctx: HandlerContext) -> None:
    async def home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab") not in (None, "home"):
            return
        from bot.core.home import home_view

        user_id = event["user"]
        members = await ctx.members(client)
        view = await asyncio.to_thread(home_view, ctx.rt, user_id, members, ctx.rt.now())
        await client.views_publish(user_id=user_id, view=view)

    app.event("app_home_opened")(home_opened)
