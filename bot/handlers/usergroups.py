"""Who is in the configured Slack user groups, cached so the modal opens at once.

A team can be defined by a Slack user group. Asking Slack on every `/contato` would put a Web API
call before `views.open` (3 s trigger), so memberships are cached for a few minutes and refreshed
in the background; the very first lookup waits for Slack, with a short timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class UsergroupMembers:
    def __init__(self, usergroups: list[str], ttl_seconds: float = 300.0, first_timeout: float = 1.5) -> None:
        self._usergroups = sorted(set(usergroups))
        self._ttl = ttl_seconds
        self._first_timeout = first_timeout
        self._members: dict[str, set[str]] = {}
        self._fetched_at: float | None = None
        self._refreshing: asyncio.Task[None] | None = None

    async def get(self, client: AsyncWebClient) -> dict[str, set[str]]:
        """usergroup id -> member user ids. Never blocks longer than `first_timeout`."""
        if not self._usergroups:
            return {}
        if self._fetched_at is None:
            task = self._refresh_task(client)
            try:
                await asyncio.wait_for(asyncio.shield(task), self._first_timeout)
            except TimeoutError:
                log.warning("Slack user groups not loaded in time; using members lists only")
        elif time.monotonic() - self._fetched_at > self._ttl:
            self._refresh_task(client)
        return self._members

    def _refresh_task(self, client: AsyncWebClient) -> asyncio.Task[None]:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh(client))
        return self._refreshing

    async def _refresh(self, client: AsyncWebClient) -> None:
        members: dict[str, set[str]] = {}
        for usergroup in self._usergroups:
            try:
                response = await client.usergroups_users_list(usergroup=usergroup)
                members[usergroup] = set(response.get("users") or [])
            except SlackApiError as exc:
                log.warning("usergroups.users.list %s failed: %s", usergroup, exc.response.get("error"))
                members[usergroup] = self._members.get(usergroup, set())
        self._members = members
        self._fetched_at = time.monotonic()
