"""The expiry scan on APScheduler: one run claims, leases and posts (`run_scan`); the scheduler
runs it every `alerts.scan_seconds`, one at a time."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.core.alerts.digest import post_channel
from bot.core.alerts.scan import LEASE_BATCH, ScanCursor, ScanResult, claim_and_lease
from bot.store.alert_claims import LeasedClaim

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.runtime import Runtime

log = logging.getLogger(__name__)

MAX_ROUNDS = 20


def default_instance_id() -> str:
    """Who holds a lease (for the logs and the claim rows): host, process and a random part."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def run_scan(
    rt: Runtime,
    client: AsyncWebClient,
    *,
    now: datetime | None = None,
    instance_id: str | None = None,
    cursor: ScanCursor | None = None,
) -> ScanResult:
    """Claim the windows due now, then post every pending claim whose turn has come (also ones a
    dead instance left leased, once the lease ran out): one digest per Slack channel."""
    now = now or rt.now()
    if now.tzinfo is None:
        raise ValueError("run_scan needs an aware UTC `now`")
    now = now.astimezone(UTC)
    instance_id = instance_id or default_instance_id()
    result = ScanResult()
    for round_ in range(MAX_ROUNDS):
        leased, items = await asyncio.to_thread(
            claim_and_lease, rt, now, instance_id, result, round_ == 0, cursor
        )
        if not leased:
            break
        by_channel: dict[str, list[LeasedClaim]] = defaultdict(list)
        for claim in leased:
            by_channel[claim.slack_channel].append(claim)
        for slack_channel, claims in by_channel.items():
            await post_channel(rt, client, slack_channel, claims, items, now, result)
        if len(leased) < LEASE_BATCH:
            break
    return result


def start_scheduler(rt: Runtime, client: AsyncWebClient) -> AsyncIOScheduler:
    """Start the scan on the running event loop every `alerts.scan_seconds` (first run now).
    One scan at a time (max_instances=1, coalesce): a slow Slack never stacks scans. The caller
    shuts the scheduler down."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    instance_id = default_instance_id()
    cursor = ScanCursor()

    async def tick() -> None:
        try:
            result = await run_scan(rt, client, instance_id=instance_id, cursor=cursor)
        except Exception:  # the next tick tries again; never let the job die silently
            log.exception("expiry alert scan failed")
            return
        if result.claimed or result.posted or result.failed:
            log.info(
                "expiry scan: %d claimed, %d posted in %d message(s), %d to retry, %d superseded",
                result.claimed,
                result.posted,
                result.messages,
                result.failed,
                result.superseded,
            )

    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(
        tick,
        "interval",
        seconds=rt.config.alerts.scan_seconds,
        id="expiry_alerts",
        max_instances=1,
        coalesce=True,
        # The first scan right away, by the runtime's clock (never read here).
        next_run_time=rt.now(),
        misfire_grace_time=None,
    )
    scheduler.start()
    return scheduler
