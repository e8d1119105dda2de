"""#4 Memory: RSS of `contato-bot serve` (and of each `contato-bot worker`) with N contacts and T
cached templates.

`python -m bench.memory [--db sqlite|postgres] [--contacts 100000] [--templates 1000] [--workers N]
[--app-root PATH]`

RSS (VmRSS from /proc) of every process right after start, after 300 `/contato` screens (phone and
name queries, which load the channel's 1,000 templates into the in-memory cache), right after 2,000
webhook POSTs, and once they are all ingested; plus each process's peak (VmHWM) at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shlex
from pathlib import Path

import httpx

from bench.common import (
    WORK,
    add_app_args,
    database_url,
    emit,
    free_port,
    rss_mb,
    select_app,
    start_app,
    write_config,
)
from bench.contato import TimedSlack, command, human
from bench.seed import phone, seed
from bench.webhooks import load, traffic, wait_drained
from bot.store.db import Store

GOAL_MB = 150


def peak_mb(pid: int) -> float:
    """The process's peak resident set size so far (VmHWM, MiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--templates", type=int, default=1000)
    add_app_args(parser)
    args = parser.parse_args()
    app = select_app(args)
    url = database_url(args.db, "memory")
    seeded = seed(url, contacts=args.contacts, events=args.events, templates=args.templates)
    slack = TimedSlack()
    slack.start()
    port = free_port()
    running = start_app(
        app,
        write_config(WORK / "memory.yml"),
        url,
        slack.url,
        port,
        workers=args.workers,
        worker_args=shlex.split(args.worker_args),
    )
    processes = running.processes()
    rss: dict[str, dict[str, float]] = {name: {} for name in processes}
    peaks: dict[str, float] = {}

    def sample(point: str) -> None:
        for name, proc in processes.items():
            rss[name][point] = round(rss_mb(proc.pid), 1)

    rng = random.Random(4)
    store = Store.from_url(url)
    try:
        sample("after_start")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for n in range(300):
                text = human(phone(rng.randint(1, args.contacts))) if n % 4 else f"Cliente {n}"
                command(client, slack, text, n)
        sample("after_300_screens")
        bodies, _ = traffic(2000, args.contacts, seed_=9)
        posted = asyncio.run(load(f"http://127.0.0.1:{port}", bodies, 32))
        sample("after_2000_webhooks")
        wait_drained(store, posted["codes"].get(200, 0), timeout=600)
        sample("after_ingested")
        running.check_alive()
        peaks = {name: round(peak_mb(proc.pid), 1) for name, proc in processes.items()}
    finally:
        store.dispose()
        running.stop()
        slack.stop()
    worst = {name: max([*points.values(), peaks.get(name, 0.0)]) for name, points in rss.items()}
    emit(
        "memory",
        {
            "db": args.db,
            "workers": args.workers,
            "seed": seeded,
            "rss_mb": rss,
            "peak_rss_mb": peaks,
            "goal_mb_each": GOAL_MB,
            "goal_met": all(value <= GOAL_MB for value in worst.values()),
        },
        app,
        tag=f"w{args.workers}" if args.workers else "",
        out=args.out,
    )


if __name__ == "__main__":
    main()
