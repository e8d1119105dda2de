"""The screen's round trips with Slack, shared by the command, the actions and the alert button.

Open first with what is at hand (the trigger_id dies in 3 s), then `views.update` with the hash
of the view we last saw when something slow (a template refresh) lands.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.modal import build_modal
from bot.blocks.state import ScreenInputs, ScreenState
from bot.config import TeamConfig
from bot.core.screen import build_screen_state
from bot.handlers.usergroups import UsergroupMembers
from bot.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class HandlerContext:
    """What every listener needs: the runtime and who belongs to which Slack user group."""

    rt: Runtime
    usergroups: UsergroupMembers

    async def members(self, client: AsyncWebClient) -> Mapping[str, set[str]]:
        return await self.usergroups.get(client)

    async def teams_of(self, client: AsyncWebClient, user_id: str) -> list[TeamConfig]:
        """The teams the Slack user acts for (by member list or user group)."""
        return self.rt.config.teams_of_user(user_id, await self.members(client))

    async def state_for(
        self,
        client: AsyncWebClient,
        user_id: str,
        inputs: ScreenInputs,
        *,
        notice: str | None = None,
        notice_params: Mapping[str, str] | None = None,
    ) -> ScreenState:
        teams = await self.teams_of(client, user_id)
        # All the database work (the template cache's first read included) runs off the event loop.
        state = await asyncio.to_thread(
            build_screen_state,
            self.rt,
            inputs,
            teams=teams,
            now=self.rt.now(),
            notice=notice,
            notice_params=notice_params,
        )
        if state.inputs.channel_id is not None:
            self.revalidate_templates(state.inputs.channel_id, state.templates_status)
        return state

    def revalidate_templates(self, channel_id: str, status: str) -> None:
        """Start the refresh a missing or stale template list needs. It cannot start from the
        worker thread that read the list (it runs on the loop), and asking the cache again here
        would read the database on the loop when nothing is cached yet."""
        if status != "fresh":
            self.rt.templates.refresh_in_background(channel_id)

    async def open_screen(
        self, client: AsyncWebClient, trigger_id: str, user_id: str, inputs: ScreenInputs
    ) -> None:
        """views.open at once, then a views.update if the channel's templates were still loading."""
        if not inputs.idempotency_key:
            inputs.idempotency_key = uuid.uuid4().hex
        state = await self.state_for(client, user_id, inputs)
        response = await client.views_open(trigger_id=trigger_id, view=build_modal(state))
        await self.follow_template_refresh(client, user_id, state, response.get("view") or {})

    async def follow_template_refresh(
        self, client: AsyncWebClient, user_id: str, state: ScreenState, view: Mapping[str, Any]
    ) -> None:
        """When the modal was drawn while templates were loading, redraw it once they are in."""
        channel_id = state.inputs.channel_id
        if channel_id is None or state.templates_status != "loading" or not view.get("id"):
            return
        await self.rt.templates.wait_refresh(channel_id)
        await self.update_view(client, user_id, view, state.inputs)

    async def update_view(
        self,
        client: AsyncWebClient,
        user_id: str,
        view: Mapping[str, Any],
        inputs: ScreenInputs,
        *,
        notice: str | None = None,
        notice_params: Mapping[str, str] | None = None,
    ) -> ScreenState:
        state = await self.state_for(client, user_id, inputs, notice=notice, notice_params=notice_params)
        try:
            response = await client.views_update(
                view_id=view["id"], hash=view.get("hash"), view=build_modal(state)
            )
        except SlackApiError as exc:
            if exc.response.get("error") == "hash_conflict":
                # The agent changed something meanwhile; their newer update wins.
                log.info("views.update skipped: the view changed meanwhile")
                return state
            raise
        await self.follow_template_refresh(client, user_id, state, response.get("view") or {})
        return state
