"""Slack listeners, grouped by kind. `register(app, rt)` wires them all; only bot.app calls it."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.handlers import actions, commands, events, messages, options, views
from bot.handlers.flow import HandlerContext
from bot.handlers.usergroups import UsergroupMembers
from bot.runtime import Runtime


def register(app: AsyncApp, rt: Runtime) -> HandlerContext:
    ctx = HandlerContext(rt=rt, usergroups=UsergroupMembers(rt.config.usergroups()))

    async def warm_usergroups() -> None:
        await ctx.usergroups.get(app.client)

    rt.warmups.append(warm_usergroups)
    commands.register(app, ctx)
    actions.register(app, ctx)
    options.register(app, ctx)
    views.register(app, ctx)
    events.register(app, ctx)
    messages.register(app, ctx)  # the conversation in the confirmation's thread
    return ctx
