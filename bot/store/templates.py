"""`template_cache`: each channel's template list as last fetched from its BSP (survives restarts)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
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


def load_templates_stamped(
    session: Session, channel_id: str
) -> tuple[datetime, datetime | None, list[Template]] | None:
    """(fetched_at, invalidated_at, templates) stored for the channel, or None if never fetched."""
    row = session.get(TemplateCacheRow, channel_id)
    if row is None:
        return None
    templates = [template_from_json(t) for t in row.templates.get("templates", [])]
    return row.fetched_at, row.invalidated_at, templates


def save_templates(
    session: Session,
    channel_id: str,
    templates: list[Template],
    fetched_at: datetime,
    asked_at: datetime | None = None,
) -> None:
    """Replace the channel's stored list. A mark of `invalidate_templates` is cleared when the
    fetch was asked for after it (`asked_at`, default `fetched_at`); an older fetch may predate
    the change, so the mark stays and the next read refreshes again."""
    payload = {"templates": [template_to_json(t) for t in templates]}
    row = session.get(TemplateCacheRow, channel_id)
    if row is None:
        session.add(TemplateCacheRow(channel_id=channel_id, fetched_at=fetched_at, templates=payload))
        return
    row.fetched_at = fetched_at
    row.templates = payload
    if row.invalidated_at is not None and row.invalidated_at <= (asked_at or fetched_at):
        row.invalidated_at = None


def invalidate_templates(session: Session, channel_id: str, now: datetime) -> None:
    """A template webhook said the channel's list changed: every process's cache refreshes it."""
    session.execute(
        update(TemplateCacheRow)
        .where(
            TemplateCacheRow.channel_id == channel_id,
            or_(TemplateCacheRow.invalidated_at.is_(None), TemplateCacheRow.invalidated_at < now),
        )
        .values(invalidated_at=now)
    )


def templates_stamp(session: Session, channel_id: str) -> tuple[datetime, datetime | None] | None:
    """(fetched_at, invalidated_at) of the stored list, or None if never fetched: what a cache
    compares with its memory copy without reading the list itself."""
    row = session.execute(
        select(TemplateCacheRow.fetched_at, TemplateCacheRow.invalidated_at).where(
            TemplateCacheRow.channel_id == channel_id
        )
    ).one_or_none()
    return None if row is None else (row.fetched_at, row.invalidated_at)
