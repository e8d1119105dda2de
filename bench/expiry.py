"""#3 Expiry scan: time to find and claim the due windows among N open ones.

`python -m bench.expiry [--db sqlite|postgres] [--windows 1000000] [--contacts 100000] [--app-root PATH]`

Windows expire evenly over the next 24 h. The first scan (a full sweep) claims the backlog
(everything due within the 60-min lead); then the clock moves 30 s per scan (the default scan
interval) and each scan reads only the slice that became due since the previous one, as the
scheduler's `ScanCursor` does. A full sweep (everything due within the lead, all of it claimed
already) is timed separately: before issue 14 the scheduler ran one every 5 minutes; since then
only a process's first scan sweeps, and windows that arrive already due come from the due-queue.
Timed: `bot.core.alerts.claim_due` in its own transaction (commit included), the same function the
scheduler runs (with `--app-root`, the one of that checkout: the bench re-runs itself with it).
Also prints the query plan of the due-window read (the index on expires_at).
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from bench.common import WORK, add_app_args, database_url, emit, select_app, summary_ms, write_config
from bench.seed import NOW, seed
from bot.config import load_config
from bot.core.alerts import KINDS, claim_due
from bot.store.db import Store
from bot.store.models import AlertClaim, Window


def due_query(now: Any, lead: timedelta) -> Any:
    """The due-window query claim_due runs (kept identical to bot/alerts.py)."""
    return select(Window.channel_id, Window.contact_id, Window.kind, Window.expires_at).where(
        Window.expires_at > now, Window.expires_at <= now + lead, Window.kind.in_(KINDS)
    )


def query_plan(store: Store, now: Any, lead: timedelta) -> list[str]:
    """EXPLAIN of the due-window query with the values inlined (EXPLAIN ANALYZE on PostgreSQL)."""
    sql = str(due_query(now, lead).compile(store.engine, compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            return [str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
        return [str(row[0]) for row in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--windows", type=int, default=1_000_000)
    parser.add_argument("--scans", type=int, default=40)
    parser.add_argument("--reuse", action="store_true", help="reuse the database of a previous run")
    add_app_args(parser, workers=False)
    args = parser.parse_args()
    app = select_app(args)

    url = database_url(args.db, "expiry", fresh=not args.reuse)
    seeded = {} if args.reuse else seed(url, contacts=args.contacts, windows=args.windows)
    config = load_config(write_config(WORK / "expiry.yml"))
    lead = timedelta(minutes=config.teams[0].alert_lead_minutes)
    store = Store.from_url(url)
    plan = query_plan(store, NOW, lead)

    def scan(now: Any, since: Any = None) -> tuple[float, int]:
        started = time.perf_counter()
        with store.session() as session:
            new = claim_due(session, config, now, since=since)
        return time.perf_counter() - started, new

    # The first scan (a full sweep) claims the backlog: everything due within the lead.
    backlog_s, backlog_new = scan(NOW)
    # Then the scheduler's steady state: each scan reads only the slice that became due since the
    # previous one (bot.core.alerts.ScanCursor), every 30 s.
    interval = timedelta(seconds=30)
    times, claimed = [], []
    now = NOW
    for _ in range(args.scans):
        previous, now = now, now + interval
        elapsed, new = scan(now, since=previous)
        times.append(elapsed)
        claimed.append(new)
    # A full sweep (before issue 14: every 5 minutes; since: only a process's first scan):
    # re-reads everything due within the lead, inserts nothing new (all claimed already).
    sweep_times = []
    for _ in range(3):
        elapsed, _new = scan(now)
        sweep_times.append(elapsed)
    with store.session() as session:
        total_claims = session.scalar(select(func.count()).select_from(AlertClaim))
        open_windows = session.scalar(select(func.count()).select_from(Window).where(Window.expires_at > NOW))
    store.dispose()
    stats = summary_ms(times)
    emit(
        "expiry",
        {
            "db": args.db,
            "seed": seeded,
            "open_windows": open_windows,
            "first_scan_backlog": {"ms": round(backlog_s * 1000, 1), "claimed": backlog_new},
            "steady_scans_every_30s": {**stats, "claimed_per_scan_mean": sum(claimed) / len(claimed)},
            "full_sweep_nothing_new": summary_ms(sweep_times),
            "claims_total": total_claims,
            "goal_p99_ms": 20,
            "goal_met": stats["p99_ms"] <= 20,
            "query_plan": plan,
        },
        app,
        out=args.out,
    )


if __name__ == "__main__":
    main()
