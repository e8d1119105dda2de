"""#7 Ingestion alone: how fast 1 or 2 workers drain a backlog of stored webhook deliveries.

`python -m bench.drain [--db sqlite|postgres] [--workers 1] [--posts 8000] [--batch N] [--profile]
[--app-root PATH]`

#2 times ingestion from the first POST, so on a 2-core machine its events/s also counts the load
generator and `serve` taking the CPU from the worker, and it can never exceed what `serve` accepts.
This one measures the worker on its own: #2's traffic (the same bodies, 360dialog) is POSTed to
`serve --ingest off`, which only stores it; `serve` is stopped; then `--workers` `contato-bot
worker --once` processes start together and drain the backlog. Each prints when its drain started,
how long it took and how many events it applied (start-up and imports not counted); the rate is all
events over the first start to the last finish. Then every status and inbound message is counted
against what was sent (nothing lost, nothing applied twice: the status rows are unique per message
and status). The same bodies also go to the bare endpoint of #2 first, so the JSON says how `serve`
storing alone (no ingestion anywhere) compares with it on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import (
    WORK,
    add_app_args,
    attach_py_spy,
    database_url,
    emit,
    free_port,
    py_spy_record,
    select_app,
    start_app,
    write_config,
)
from bench.seed import seed
from bench.webhooks import backlog, count_stored, ingestion_floor, load, lost_of, run_bare, traffic
from bot.store.db import Store
from tests.e2e.fake_slack import FakeSlack


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc), all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain(
    app: Any, config: Path, env: dict[str, str], workers: int, batch: int | None, profile: str | None
) -> list[dict[str, Any]]:
    """Start `workers` `worker --once` at the same time; their JSON summaries."""
    extra = ["--batch", str(batch)] if batch else []
    procs = []
    for i in range(workers):
        command = app.command(config, "worker", "--once", *extra)
        if profile and i == 0:
            command = [*py_spy_record(Path(profile)), "--", *command]
        procs.append(
            subprocess.Popen(
                command,
                env=env,
                stdout=subprocess.PIPE,
                stderr=open(WORK / f"drain-worker-{i + 1}.log", "wb"),  # noqa: SIM115
                cwd=app.root,
            )
        )
    summaries = []
    for i, proc in enumerate(procs):
        out, _ = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise SystemExit(
                f"worker {i + 1} exited with {proc.returncode}; see {WORK}/drain-worker-{i + 1}.log"
            )
        # The summary is the worker's one JSON line (py-spy, when profiling, prints around it).
        line = next(line for line in reversed(out.decode().splitlines()) if line.startswith("{"))
        summaries.append(json.loads(line))
    return summaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000, help="events seeded before the run")
    parser.add_argument("--posts", type=int, default=8000)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--batch", type=int, default=None, help="worker --batch (default: the worker's)")
    parser.add_argument("--profile", action="store_true", help="py-spy the first worker (needs py-spy)")
    parser.add_argument(
        "--profile-serve", action="store_true", help="py-spy `serve` while it stores the POSTs (needs py-spy)"
    )
    add_app_args(parser)
    args = parser.parse_args()
    app = select_app(args)
    workers = max(1, args.workers)

    bodies, sent = traffic(args.posts, args.contacts)
    bare = run_bare(bodies, args.concurrency)
    url = database_url(args.db, "drain")
    seeded = seed(url, contacts=args.contacts, events=args.events)
    slack = FakeSlack().start()
    config = write_config(WORK / "drain.yml")
    env = app.env(url, slack.url)
    store = Store.from_url(url)
    try:
        port = free_port()
        running = start_app(app, config, url, slack.url, port, ingest_off=True)
        spy = None
        if args.profile_serve:
            spy = attach_py_spy(running.serve.pid, WORK / f"profile-drain-serve-{args.db}.txt")
        try:
            cpu_before = cpu_seconds(running.serve.pid)
            posting = asyncio.run(load(f"http://127.0.0.1:{port}", bodies, args.concurrency))
            posting["serve_cpu_seconds"] = round(cpu_seconds(running.serve.pid) - cpu_before, 3)
            posting["serve_cpu_ms_per_post"] = round(1000 * posting["serve_cpu_seconds"] / len(bodies), 4)
            running.check_alive()
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
            running.stop()
        waiting = backlog(store)
        profile = str(WORK / f"profile-drain-{args.db}-w{workers}.txt") if args.profile else None
        summaries = drain(app, config, env, workers, args.batch, profile)
    finally:
        slack.stop()
    stored = count_stored(store)
    left = backlog(store)
    store.dispose()
    starts = [datetime.fromisoformat(s["started_at"]).timestamp() for s in summaries]
    ends = [start + s["seconds"] for start, s in zip(starts, summaries, strict=True)]
    seconds = max(ends) - min(starts)
    events = sum(s["events"] for s in summaries)
    lost = lost_of(sent, stored)
    floor = ingestion_floor(args.db)
    events_per_s = round(events / seconds, 1) if seconds > 0 else None
    emit(
        "drain",
        {
            "db": args.db,
            "workers": workers,
            "batch": args.batch,
            "seed": seeded,
            "sent": sent,
            "bare_endpoint": bare,
            "posting": {k: v for k, v in posting.items() if not k.startswith("_")},
            # serve storing with no ingestion anywhere: the ceiling of its accept path on this machine
            "serve_alone_vs_bare_requests": round(posting["requests_per_s"] / bare["requests_per_s"], 3),
            "backlog_before_drain": waiting,
            "workers_once": summaries,
            "drain_seconds": round(seconds, 3),
            "events_applied": events,
            "events_per_s": events_per_s,
            # CPU of the worker processes (not PostgreSQL's): steadier than the rate when the
            # machine is shared, so the figure to compare two versions of the code by.
            "worker_cpu_seconds": round(sum(s["cpu_seconds"] for s in summaries), 3),
            "worker_cpu_us_per_event": round(1e6 * sum(s["cpu_seconds"] for s in summaries) / events, 2)
            if events
            else None,
            "left_unprocessed": left,
            "stored": stored,
            "lost": lost,
            "goals": {
                f"events_per_s>={floor}": events_per_s is not None and events_per_s >= floor,
                "nothing_lost": not any(lost.values()) and left == 0 and stored["deliveries_with_error"] == 0,
            },
        },
        app,
        tag=f"w{workers}",
        out=args.out,
    )


if __name__ == "__main__":
    main()
