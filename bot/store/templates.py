"""`template_cache`: each channel's template list as last fetched from its BSP (survives restarts)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.rules.templates import Template, TemplateButton, normalise_category
from bot.store.models import TemplateCache as TemplateCacheRow


def template_to_json(template: Template) -> dict[str, Any]:
    """A template as stored in the JSON column."""
    data = asdict(template)
    data["category"] = template.category.value if template.category else None
    return data


def template_from_json(data: dict[str, Any]) -> Template:
    """A template read back from the JSON column."""
    fields = dict(data)
    fields["buttons"] = tuple(TemplateButton(**b) for b in fields.get("buttons") or ())
    fields["category"] = normalise_category(fields["category"]) if fields.get("category") else None
    fields["examples"] = tuple(tuple(pair) for pair in fields.get("examples") or ())
    return Template(**fields)


def load_templates(session: Session, channel_id: str) -> tuple[datetime, list[Template]] | None:
    """(fetched_at, templates) stored for the channel, or None if never fetched."""
    row = session.get(TemplateCacheRow, channel_id)
    if row is None:
        return None
    return row.fetched_at, [template_from_json(t) for t in row.templates.get("templates", [])]


def save_templates(
    session: Session, channel_id: str, templates: list[Template], fetched_at: datetime
) -> None:
    """Replace the channel's stored list."""
    payload = {"templates": [template_to_json(t) for t in templates]}
    row = session.get(TemplateCacheRow, channel_id)
    if row is None:
        session.add(TemplateCacheRow(channel_id=channel_id, fetched_at=fetched_at, templates=payload))
    else:
        row.fetched_at = fetched_at
        row.templates = payload
