"""`contato-bot preview CHANNEL CONTACT [--team] [--category] [--template] [--at]`: the modal's
Block Kit JSON, to read as the agent would or paste into Slack's Block Kit Builder."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bot.blocks.modal import build_modal
from bot.blocks.state import ScreenInputs
from bot.cli.common import UsageError, at_or_fail, category_or_fail, channel_or_fail, open_runtime
from bot.core.screen import build_screen_state


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("preview", help="print the modal's Block Kit JSON")
    parser.add_argument("channel")
    parser.add_argument("contact")
    parser.add_argument("--team")
    parser.add_argument("--category")
    parser.add_argument("--template", help="name or name:language")
    parser.add_argument("--at", help="ISO 8601 time (default: now)")


def run(args: argparse.Namespace, config_path: str) -> int:
    with open_runtime(config_path) as rt:
        channel = channel_or_fail(rt, args.channel)
        team = args.team
        teams = [t for t in rt.config.teams if channel.id in t.channels and (team is None or t.id == team)]
        if not teams:
            named = f"named {team!r} " if team else ""
            raise UsageError(f"no team {named}uses channel {channel.id!r}.")
        chosen = category_or_fail(args.category)
        now = at_or_fail(args.at, rt.now())
        if rt.templates.get(channel.id, revalidate=False).status in ("loading", "error"):
            try:
                asyncio.run(rt.templates.refresh(channel.id))
            except Exception as exc:
                print(
                    f"contato-bot preview: could not load the templates of {channel.id!r} ({exc}); "
                    "showing the screen without them.",
                    file=sys.stderr,
                )
        template_key = args.template
        if template_key and ":" not in template_key:
            cached = rt.templates.get(channel.id, revalidate=False).templates
            named_like = [t for t in cached if t.name == template_key]
            template_key = named_like[0].key if named_like else template_key
        inputs = ScreenInputs(
            contact_query=args.contact,
            team_id=teams[0].id,
            channel_id=channel.id,
            category=chosen,
            template_key=template_key,
            idempotency_key="preview",
        )
        state = build_screen_state(rt, inputs, teams=teams, now=now)
        if state.contact_problem:
            raise UsageError(rt.catalog.t(state.contact_problem))
    print(json.dumps(build_modal(state), ensure_ascii=False, indent=2))
    return 0
