"""Templates per channel, cached so the modal never waits on a BSP.

Reads answer at once from memory (or the database after a restart) and, when the entry is older
than the TTL, start one background refresh per channel (stale-while-revalidate). A channel never
fetched yet answers "loading" and the caller updates the view when the refresh lands.

Several processes share the stored lists: a template webhook may be ingested by a worker, which
marks the channel's row invalidated (`store.templates.invalidate_templates`). A memory copy older
than `recheck_seconds` looks at the row's stamp again (one primary-key read, not the list), so a
process sees another's fetch or invalidation within seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot import metrics
from bot.bsp.base import Provider
from bot.rules.templates import Template
from bot.store.db import Store
from bot.store.templates import (
    load_templates_stamped,
    save_templates,
    template_from_json,
    template_to_json,
    templates_stamp,
)

__all__ = ["CachedTemplates", "TemplateCache", "template_from_json", "template_to_json"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedTemplates:
    templates: list[Template]
    status: str  # fresh | stale | loading | error
    fetched_at: datetime | None


@dataclass
class _Entry:
    fetched_at: datetime
    templates: list[Template]
    invalidated: bool  # a template webhook came after this fetch: refresh at the next read
    checked: float  # time.monotonic() when the stored row was last looked at


class TemplateCache:
    """The template lists of every channel: in memory, in the store, refreshed from the BSP."""

    def __init__(
        self,
        store: Store,
        providers: Callable[[str], Provider],
        ttl: timedelta,
        clock: Callable[[], datetime],
        recheck_seconds: float = 5.0,
    ) -> None:
        self._store = store
        self._providers = providers
        self.ttl = ttl
        self._clock = clock
        self.recheck_seconds = recheck_seconds
        self._memory: dict[str, _Entry] = {}
        self._refreshing: dict[str, asyncio.Task[list[Template]]] = {}
        self._errors: dict[str, str] = {}

    def _stored(self, channel_id: str, known: _Entry | None) -> _Entry | None:
        """The entry as the database has it now; the list is read only when it is not `known`'s."""
        checked = time.monotonic()
        with self._store.read_session() as session:
            if known is not None:
                stamp = templates_stamp(session, channel_id)
                if stamp is not None and stamp[0] == known.fetched_at:
                    invalidated = stamp[1] is not None or known.invalidated
                    return replace(known, invalidated=invalidated, checked=checked)
            row = load_templates_stamped(session, channel_id)
        if row is None:  # never fetched (or the row is gone): what memory has, if anything
            return None if known is None else replace(known, checked=checked)
        fetched_at, invalidated_at, templates = row
        return _Entry(fetched_at, templates, invalidated_at is not None, checked)

    def _save_row(
        self, channel_id: str, templates: list[Template], fetched_at: datetime, asked_at: datetime
    ) -> None:
        with self._store.session() as session:
            save_templates(session, channel_id, templates, fetched_at, asked_at)

    def get(self, channel_id: str, *, revalidate: bool = True) -> CachedTemplates:
        """What is cached now; never waits on the BSP."""
        entry = self._memory.get(channel_id)
        if entry is None or time.monotonic() - entry.checked >= self.recheck_seconds:
            entry = self._stored(channel_id, entry)
            if entry is not None:
                self._memory[channel_id] = entry
        now = self._clock()
        if entry is None:
            if revalidate:
                self.refresh_in_background(channel_id)
            status = "error" if channel_id in self._errors else "loading"
            return CachedTemplates([], status, None)
        stale = entry.invalidated or now - entry.fetched_at >= self.ttl
        if stale and revalidate:
            self.refresh_in_background(channel_id)
        return CachedTemplates(entry.templates, "stale" if stale else "fresh", entry.fetched_at)

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
        provider = self._providers(channel_id)
        asked_at = self._clock()
        try:
            with metrics.bsp_call(provider.name, "list_templates"):
                templates = await provider.list_templates()
        except Exception as exc:
            self._errors[channel_id] = str(exc)
            log.warning("template refresh failed for channel %s: %s", channel_id, type(exc).__name__)
            raise
        self._errors.pop(channel_id, None)
        fetched_at = self._clock()
        await asyncio.to_thread(self._save_row, channel_id, templates, fetched_at, asked_at)
        self._memory[channel_id] = _Entry(fetched_at, templates, False, time.monotonic())
        return templates

    def invalidate(self, channel_id: str) -> None:
        """A template webhook said something changed: the next read refreshes. (Ingestion also
        marks the stored row, for the other processes: `store.templates.invalidate_templates`.)"""
        entry = self._memory.get(channel_id)
        if entry is not None:
            entry.invalidated = True
        self.refresh_in_background(channel_id)
