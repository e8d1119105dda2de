"""`contato-bot templates CHANNEL [--category C] [--json]`: the channel's templates, asked of its BSP
now (not the cache), with what the screen would offer."""

from __future__ import annotations

import argparse
import asyncio
import json

from bot.bsp.base import BspError
from bot.bsp.errors import explain
from bot.cli.common import CommandFailed, category_or_fail, channel_or_fail, open_runtime
from bot.core.template_cache import template_to_json
from bot.rules.templates import Template, template_variables


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("templates", help="the channel's templates from its BSP")
    parser.add_argument("channel")
    parser.add_argument("--category")
    parser.add_argument("--json", action="store_true", dest="as_json")


def run(args: argparse.Namespace, config_path: str) -> int:
    with open_runtime(config_path) as rt:
        channel = channel_or_fail(rt, args.channel)
        wanted = category_or_fail(args.category)
        try:
            templates = asyncio.run(rt.templates.refresh(channel.id))
        except Exception as exc:
            reason = explain(exc, rt.catalog) if isinstance(exc, BspError) else str(exc)
            raise CommandFailed(f"could not list the templates of {channel.id!r}: {reason}") from exc
    if wanted is not None:
        templates = [t for t in templates if t.category == wanted]
    templates.sort(key=lambda t: (t.category.value if t.category else "", t.name, t.language))
    print(_as_json(templates) if args.as_json else _as_table(templates))
    return 0


def _as_json(templates: list[Template]) -> str:
    out = []
    for t in templates:
        item = template_to_json(t)
        item["key"] = t.key
        item["offered"] = t.approved
        item["variables"] = [v.key for v in template_variables(t)]
        out.append(item)
    return json.dumps(out, ensure_ascii=False, indent=2)


def _as_table(templates: list[Template]) -> str:
    lines = []
    for t in templates:
        variables = ", ".join(v.key for v in template_variables(t)) or "-"
        category_name = t.category.value if t.category else (t.raw_category or "?")
        lines.append(f"{t.name:40} {t.language:6} {category_name:15} {t.status:10} vars: {variables}")
    offered = sum(t.approved for t in templates)
    lines.append(f"{len(templates)} template(s); {offered} approved (offered in the screen).")
    return "\n".join(lines)
