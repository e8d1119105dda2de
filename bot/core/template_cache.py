"""Templates per channel, cached so the modal never waits on a BSP.

Reads answer at once from memory (or the database after a restart) and, when the entry is older
than the TTL, start one background refresh per channel (stale-while-revalidate). A channel never
fetched yet answers "loading" and the caller updates the view when the refresh lands.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.rules.templates import Template, TemplateButton, normalise_category
from bot.store.models import TemplateCache as TemplateCacheRow

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def template_to_json(template: Template) -> dict[str, Any]:
    data = asdict(template)
    data["category"] = template.category.value if template.category else None
    return data


def template_from_json(data: dict[str, Any]) -> Template:
    fields = dict(data)
    fields["buttons"] = tuple(TemplateButton(**b) for b in fields.get("buttons") or ())
    fields["category"] = normalise_category(fields["category"]) if fields.get("category") else None
    return Template(**fields)


@dataclass(frozen=True)
class CachedTemplates:
    templates: list[Template]
    status: str  # fresh | stale | loading | error
    fetched_at: datetime | None


class TemplateCache:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._memory: dict[str, tuple[datetime, list[Template]]] = {}
        self._refreshing: dict[str, asyncio.Task[list[Template]]] = {}
        self._errors: dict[str, str] = {}

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self._rt.config.templates.ttl_seconds)

    def _load_row(self, channel_id: str) -> tuple[datetime, list[Template]] | None:
        with self._rt.store.session() as session:
            row = session.get(TemplateCacheRow, channel_id)
            if row is None:
                return None
            templates = [template_from_json(t) for t in row.templates.get("templates", [])]
            return row.fetched_at, templates

    def get(self, channel_id: str, *, revalidate: bool = True) -> CachedTemplates:
        """What is cached now; never waits on the BSP."""
        entry = self._memory.get(channel_id)
        if entry is None:
            entry = self._load_row(channel_id)
            if entry is not None:
                self._memory[channel_id] = entry
        now = self._rt.now()
        if entry is None:
            if revalidate:
                self.refresh_in_background(channel_id)
            status = "error" if channel_id in self._errors else "loading"
            return CachedTemplates([], status, None)
        fetched_at, templates = entry
        stale = now - fetched_at >= self.ttl
        if stale and revalidate:
            self.refresh_in_background(channel_id)
        return CachedTemplates(templates, "stale" if stale else "fresh", fetched_at)

    def refresh_in_background(self, channel_id: str) -> asyncio.Task[list[Template]] | None:
        """Start one refresh for the channel (or return the one already running)."""
        running = self._refreshing.get(channel_id)
        if running is not None and not running.done():
            return running
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        task = loop.create_task(self.refresh(channel_id))
        self._refreshing[channel_id] = task
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # never "never retrieved"
        return task

    async def wait_refresh(self, channel_id: str) -> None:
        """Wait for a refresh in flight (tests and the 'refresh templates' button)."""
        task = self._refreshing.get(channel_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def refresh(self, channel_id: str) -> list[Template]:
        """Fetch from the BSP now and store; on failure keep what was cached."""
        provider = self._rt.provider(channel_id)
        try:
            templates = await provider.list_templates()
        except Exception as exc:
            self._errors[channel_id] = str(exc)
            log.warning("template refresh failed for channel %s: %s", channel_id, type(exc).__name__)
            raise
        self._errors.pop(channel_id, None)
        fetched_at = self._rt.now()
        payload = {"templates": [template_to_json(t) for t in templates]}
        with self._rt.store.session() as session:
            row = session.get(TemplateCacheRow, channel_id)
            if row is None:
                session.add(TemplateCacheRow(channel_id=channel_id, fetched_at=fetched_at, templates=payload))
            else:
                row.fetched_at = fetched_at
                row.templates = payload
        self._memory[channel_id] = (fetched_at, templates)
        return templates

    def invalidate(self, channel_id: str) -> None:
        """A template webhook said something changed: the next read refreshes."""
        entry = self._memory.get(channel_id)
        if entry is not None:
            self._memory[channel_id] = (entry[0] - self.ttl - timedelta(seconds=1), entry[1])
        self.refresh_in_background(channel_id)
