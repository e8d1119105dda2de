"""Retention: `contato-bot prune` and the daily prune `serve` runs (config `retention`).
What is deleted and what never is: `bot.store.retention`."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.store import retention
from bot.store.retention import Pruned

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(hours=24)


def prune(
    rt: Runtime,
    now: datetime,
    *,
    webhooks_older_than: timedelta | None,
    messages_older_than: timedelta | None,
) -> Pruned:
    """Delete processed webhook bodies and empty message texts past their age (None: keep)."""
    pruned = Pruned()
    with rt.store.session() as session:
        if webhooks_older_than is not None:
            pruned.webhook_bodies = retention.delete_processed_deliveries(session, now - webhooks_older_than)
        if messages_older_than is not None:
            texts, referrals, sandbox = retention.scrub_message_texts(session, now - messages_older_than)
            pruned.message_texts, pruned.referrals, pruned.sandbox_sends = texts, referrals, sandbox
    return pruned


def configured_ages(rt: Runtime) -> tuple[timedelta | None, timedelta | None]:
    """(webhook bodies, message texts) ages from `retention` in contato.yml."""
    days = rt.config.retention
    return (
        timedelta(days=days.webhook_days) if days.webhook_days else None,
        timedelta(days=days.message_days) if days.message_days else None,
    )


async def prune_daily(rt: Runtime) -> None:
    """Prune by the config once at start and then every day, until cancelled. With several
    instances each prunes; the deletes are idempotent, so that costs only a few queries."""
    webhooks, messages = configured_ages(rt)
    if webhooks is None and messages is None:
        return
    while True:
        try:
            pruned = await asyncio.to_thread(
                prune, rt, rt.now(), webhooks_older_than=webhooks, messages_older_than=messages
            )
            if any(pruned.to_dict().values()):
                log.info("retention: pruned %s", pruned.to_dict())
        except Exception as exc:  # the database is away: try again tomorrow, say so now
            log.error("retention: prune failed: %s", type(exc).__name__)
        await asyncio.sleep(PRUNE_EVERY.total_seconds())
