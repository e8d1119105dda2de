"""#4 Memory: RSS of `contato-bot serve` with N contacts and T cached templates.

`python -m bench.memory [--db sqlite|postgres] [--contacts 100000] [--templates 1000]`

RSS (VmRSS from /proc) right after start, after 300 `/contato` screens (phone and name queries,
which load the channel's 1,000 templates into the in-memory cache) and after 2,000 webhook POSTs.
"""

from __future__ import annotations

import argparse
import asyncio
import random

import httpx

from bench.common import WORK, database_url, emit, free_port, rss_mb, start_serve, stop, write_config
from bench.contato import TimedSlack, command, human
from bench.seed import phone, seed
from bench.webhooks import load, traffic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--templates", type=int, default=1000)
    args = parser.parse_args()
    url = database_url(args.db, "memory")
    seeded = seed(url, contacts=args.contacts, events=args.events, templates=args.templates)
    slack = TimedSlack()
    slack.start()
    port = free_port()
    proc = start_serve(write_config(WORK / "memory.yml"), url, slack.url, port)
    rss: dict[str, float] = {}
    rng = random.Random(4)
    try:
        rss["after_start"] = round(rss_mb(proc.pid), 1)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for n in range(300):
                text = human(phone(rng.randint(1, args.contacts))) if n % 4 else f"Cliente {n}"
                command(client, slack, text, n)
        rss["after_300_screens"] = round(rss_mb(proc.pid), 1)
        bodies, _ = traffic(2000, args.contacts, seed_=9)
        asyncio.run(load(f"http://127.0.0.1:{port}", bodies, 32))
        rss["after_2000_webhooks"] = round(rss_mb(proc.pid), 1)
    finally:
        stop(proc)
        slack.stop()
    peak = max(rss.values())
    emit(
        "memory",
        {
            "db": args.db,
            "date": "2026-11-25",
            "command": f"python -m bench.memory --db {args.db} --contacts {args.contacts} "
            f"--templates {args.templates}",
            "seed": seeded,
            "rss_mb": rss,
            "goal_mb": 150,
            "goal_met": peak <= 150,
        },
    )


if __name__ == "__main__":
    main()
