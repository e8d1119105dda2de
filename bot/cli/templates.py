"""`contato-bot templates CHANNEL [--category C] [--json]`: the channel's templates, asked of its BSP
now (not the cache), with what the screen would offer."""

from __future__ import annotations

import asyncio
import json
import sys

from bot.core.template_cache import template_to_json
from bot.rules.events import Category
from bot.rules.templates import template_variables


def cli_templates(config_path: str, channel_id: str, category: str | None, as_json: bool) -> int:
    from bot.runtime import build_runtime

    rt = build_runtime(config_path)
    if rt.config.channel(channel_id) is None:
        known = ", ".join(c.id for c in rt.config.channels) or "none"
        print(
            f"contato-bot templates: no channel {channel_id!r} in the config (channels: {known}).",
            file=sys.stderr,
        )
        return 2
    wanted: Category | None = None
    if category:
        try:
            wanted = Category(category.lower())
        except ValueError:
            print(
                f"contato-bot templates: unknown category {category!r} "
                f"(use one of {', '.join(c.value for c in Category)}).",
                file=sys.stderr,
            )
            return 2
    try:
        templates = asyncio.run(rt.templates.refresh(channel_id))
    except Exception as exc:
        from bot.bsp.base import BspError
        from bot.bsp.errors import explain

        reason = explain(exc, rt.catalog) if isinstance(exc, BspError) else str(exc)
        print(
            f"contato-bot templates: could not list the templates of {channel_id!r}: {reason}",
            file=sys.stderr,
        )
        return 1
    if wanted is not None:
        templates = [t for t in templates if t.category == wanted]
    templates.sort(key=lambda t: (t.category.value if t.category else "", t.name, t.language))
    if as_json:
        out = []
        for t in templates:
            item = template_to_json(t)
            item["key"] = t.key
            item["offered"] = t.approved
            item["variables"] = [v.key for v in template_variables(t)]
            out.append(item)
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    for t in templates:
        variables = ", ".join(v.key for v in template_variables(t)) or "-"
        category_name = t.category.value if t.category else (t.raw_category or "?")
        print(f"{t.name:40} {t.language:6} {category_name:15} {t.status:10} vars: {variables}")
    offered = sum(t.approved for t in templates)
    print(f"{len(templates)} template(s); {offered} approved (offered in the screen).")
    return 0
