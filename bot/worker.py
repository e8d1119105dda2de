"""`contato-bot worker`: webhook ingestion in its own process (`bot.core.delivery_queue`).

Any number of workers share the stored deliveries on PostgreSQL; on SQLite run one (its
transactions take the database's one write lock, so a second would only wait). SIGTERM (or
Ctrl-C) finishes the batch in hand and exits 0; SIGKILL at any point loses nothing either: the
batch's transaction was not committed, so its deliveries are due again for the next worker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time

from bot import logs
from bot.config import Settings
from bot.core.delivery_queue import Drainer
from bot.runtime import Runtime, freeze_startup_objects

log = logging.getLogger(__name__)

# How often a worker says how many deliveries wait (INFO, only when some do).
BACKLOG_LOG_SECONDS = 30.0
# Deliveries per transaction on PostgreSQL: measured about 1.3x the events/s of 16, and a batch
# locks only its own rows there.
POSTGRESQL_BATCH = 64
# On SQLite a batch holds the one write lock that `serve`'s stores wait for (queued on the lock
# file, bot.store.db.SqliteWriterLock), so a batch is a trade between the worker's commits and the
# POSTs' wait. bench.webhooks, 4,000 POSTs, serve + 1 worker on 2 cores: 16 -> 9,729 events/s
# ingested, POST p99 38 ms; 32 -> 11,795 and 64 ms; 64 -> 11,109 and 73 ms.
SQLITE_BATCH = 32


def run_worker(
    config_path: str,
    *,
    batch: int | None = None,
    poll_seconds: float = 0.2,
    once: bool = False,
    metrics: tuple[str, int] | None = None,
) -> int:
    """Drain until SIGTERM (or, with `once`, until nothing is due, printing what was done as JSON)."""
    settings = Settings()
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    if not token:
        print(
            "contato-bot worker: missing SLACK_BOT_TOKEN in the environment (needed to redraw the "
            "agents' confirmations; see README, 'Create the Slack app').",
            file=sys.stderr,
        )
        return 1
    from bot.runtime import build_runtime

    rt = build_runtime(config_path, settings=settings)
    logs.add_secrets(logs.config_secrets(rt.config, os.environ))  # the BSP keys the config names
    if rt.store.dialect == "sqlite" and not once:
        log.info(
            "worker on SQLite: run at most one, beside `serve --ingest off` (a second worker would "
            "only wait for the one write lock; docs/operations.md, 'Ingestion workers')"
        )
    if batch is None:
        batch = POSTGRESQL_BATCH if rt.store.dialect == "postgresql" else SQLITE_BATCH
    if metrics is not None:
        from bot.metrics import start_metrics_port

        start_metrics_port(rt, *metrics)
    return asyncio.run(_work(rt, batch=batch, poll_seconds=poll_seconds, once=once))


async def _work(rt: Runtime, *, batch: int, poll_seconds: float, once: bool) -> int:
    from bot.slack_client import build_slack_client

    drainer = Drainer(rt, build_slack_client(rt), batch=batch, poll_seconds=poll_seconds)
    freeze_startup_objects()
    try:
        if once:
            return await _once(rt, drainer)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _stopper(drainer, signum))
        reporter = loop.create_task(_report_backlog(rt))
        log.info("worker started: batches of %d, polling every %.2g s", batch, poll_seconds)
        try:
            await drainer.run()
        finally:
            reporter.cancel()
        log.info("worker stopped: %s", json.dumps(drainer.totals.to_dict()))
        return 0
    finally:
        await rt.aclose()


def _stopper(drainer: Drainer, signum: int):  # type: ignore[no-untyped-def]
    def stop() -> None:
        log.info("%s: finishing the batch in hand, then stopping", signal.Signals(signum).name)
        drainer.stop_soon()

    return stop


async def _once(rt: Runtime, drainer: Drainer) -> int:
    from bot.core.delivery_queue import error_label

    started_at, started, cpu = rt.now(), time.monotonic(), time.process_time()
    try:
        totals = await drainer.drain_until_empty()
        seconds, cpu = time.monotonic() - started, time.process_time() - cpu
        waiting, oldest_seconds, _ = await asyncio.to_thread(_backlog, rt)
    except Exception as exc:
        print(
            f"contato-bot worker: could not drain the webhook deliveries ({error_label(exc)}).",
            file=sys.stderr,
        )
        return 1
    # How long the drain took (start-up and imports not counted): an operator emptying a backlog
    # by hand, or bench.drain, reads the rate off it.
    timing = {
        "started_at": started_at.isoformat(timespec="milliseconds"),
        "seconds": round(seconds, 3),
        "events_per_s": round(totals.events / seconds, 1) if seconds > 0 else None,
        "cpu_seconds": round(cpu, 3),  # this process's (on SQLite the database's work is in it)
    }
    print(
        json.dumps(
            {**totals.to_dict(), **timing, "waiting": waiting, "oldest_waiting_seconds": oldest_seconds}
        )
    )
    return 0


def _backlog(rt: Runtime) -> tuple[int, float, int]:
    """(deliveries not processed, the oldest one's age in seconds, how many recorded an error)."""
    from bot.store import deliveries

    with rt.store.read_session() as session:
        waiting, oldest, failed = deliveries.backlog(session)
    age = max(0.0, (rt.now() - oldest).total_seconds()) if oldest is not None else 0.0
    return waiting, round(age, 1), failed


async def _report_backlog(rt: Runtime) -> None:
    while True:
        await asyncio.sleep(BACKLOG_LOG_SECONDS)
        try:
            waiting, age, failed = await asyncio.to_thread(_backlog, rt)
        except Exception as exc:
            log.warning("webhook backlog unknown: %s", type(exc).__name__)
            continue
        if waiting:
            log.info(
                "webhook backlog: %d deliveries waiting (%d with an error), the oldest %.0f s old",
                waiting,
                failed,
                age,
            )
