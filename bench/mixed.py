"""#6 The screen under a webhook flood: `/contato` -> `views.open` latency while webhooks arrive
at a steady rate (default 4,000 events/s).

`python -m bench.mixed [--db sqlite|postgres] [--workers N] [--events-per-second 4000]
[--seconds 30] [--app-root PATH]`

Seeds 100k contacts and 1M events, starts `contato-bot serve` (with `--workers N`: `serve --ingest
off` and N `contato-bot worker` processes) against the fake Slack of bench.contato, warms up, times
`--idle-requests` screens with no load (the same run's baseline), then starts bench.pace in its own
process: 360dialog POSTs as bench.webhooks builds them, paced open-loop at `--events-per-second`
for `--seconds`. While it posts, one agent at a time sends Slack-signed `/contato` commands with
bench.contato's query mix (70 % phone, 15 % name, 10 % unknown number, 5 % empty), `--gap-ms`
apart; latency = send -> the fake Slack receiving the matching `views.open`.

Ingestion kept up when the stored deliveries not yet processed at the moment posting ended
(backlog) drain within `KEPT_UP_SECONDS`; sustained ingested events/s = accepted events / (first
POST -> the newest `processed_at`).
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import subprocess
import sys
import threading
import time
from typing import Any

import httpx

from bench.common import (
    WORK,
    add_app_args,
    bench_path,
    database_url,
    emit,
    free_port,
    select_app,
    serve_env,
    start_app,
    stop,
    summary_ms,
    write_config,
)
from bench.contato import QUERY_KINDS, TimedSlack, command, query, warm_up
from bench.seed import seed
from bench.webhooks import backlog, count_stored, last_processed_wall, sustained, wait_drained
from bot.store.db import Store

KEPT_UP_SECONDS = 2.0  # the backlog left when posting stops drains this fast: ingestion kept pace


class Pacer:
    """bench.pace as a subprocess; its `started`/`posted` lines become events, its JSON the result."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Any) -> None:
        self.started = threading.Event()
        self.posted = threading.Event()
        self.started_wall = 0.0
        self.posted_wall = 0.0
        self.result: dict[str, Any] | None = None
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=open(WORK / "pace.log", "wb"),  # noqa: SIM115 - lives as long as the process
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("started "):
                self.started_wall = float(line.split()[1])
                self.started.set()
            elif line.startswith("posted "):
                self.posted_wall = float(line.split()[1])
                self.posted.set()
            elif line.startswith("{"):
                self.result = json.loads(line)
        self.started.set()  # an early exit must not leave the bench waiting
        self.posted.set()

    def finish(self, timeout: float) -> dict[str, Any]:
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        if self.result is None:
            raise SystemExit(f"bench.pace exited with {self.proc.returncode}; see {WORK}/pace.log")
        return self.result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000, help="events seeded before the run")
    parser.add_argument("--events-per-second", type=float, default=4000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--gap-ms", type=float, default=20, help="pause between two /contato (one agent)")
    parser.add_argument("--idle-requests", type=int, default=200, help="screens timed before the load")
    parser.add_argument("--connections", type=int, default=256, help="the load generator's connection cap")
    parser.add_argument("--drain-timeout", type=float, default=600)
    add_app_args(parser)
    args = parser.parse_args()
    app = select_app(args)

    url = database_url(args.db, "mixed")
    seeded = seed(url, contacts=args.contacts, events=args.events)
    slack = TimedSlack()
    slack.start()
    port = free_port()
    running = start_app(
        app,
        write_config(WORK / "mixed.yml"),
        url,
        slack.url,
        port,
        workers=args.workers,
        worker_args=shlex.split(args.worker_args),
    )
    store = Store.from_url(url)
    rng = random.Random(6)
    idle: list[float] = []
    samples: dict[str, list[float]] = {kind: [] for kind in QUERY_KINDS}
    acks: list[float] = []
    pacer: Pacer | None = None
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            warm_up(client, slack, rng, args.contacts)
            for n in range(args.idle_requests):
                idle.append(command(client, slack, query(rng, args.contacts)[1], 100_000 + n)[0])
            python_path, cwd = bench_path(app.root)
            pacer = Pacer(
                [
                    sys.executable,
                    "-m",
                    "bench.pace",
                    f"http://127.0.0.1:{port}",
                    "--events-per-second",
                    str(args.events_per_second),
                    "--seconds",
                    str(args.seconds),
                    "--contacts",
                    str(args.contacts),
                    "--connections",
                    str(args.connections),
                ],
                {**serve_env(url, slack.url), "PYTHONPATH": python_path},
                cwd,
            )
            if not pacer.started.wait(timeout=120):
                raise SystemExit("bench.pace did not start")
            time.sleep(0.5)  # time only once the flood is on
            n = 0
            while not pacer.posted.is_set():
                kind, text = query(rng, args.contacts)
                latency, ack = command(client, slack, text, n)
                samples[kind].append(latency)
                acks.append(ack)
                n += 1
                time.sleep(args.gap_ms / 1000)
        backlog_at_end = backlog(store)  # right when the last POST went out
        flood = pacer.finish(timeout=300)
        backlog_after_responses = backlog(store)
        drained = True
        try:
            wait_drained(store, flood["accepted_posts"], timeout=args.drain_timeout)
        except SystemExit:
            drained = False
        running.check_alive()
    finally:
        if pacer is not None and pacer.proc.poll() is None:
            stop(pacer.proc)
        running.stop()
        slack.stop()
    ingestion = sustained(store, flood["accepted_events"], flood["started_wall"], time.time())
    last = last_processed_wall(store)
    drain_after_posting = round(last - pacer.posted_wall, 2) if last is not None else None
    stored = count_stored(store)
    store.dispose()
    everything = [v for values in samples.values() for v in values]
    overall = summary_ms(everything)
    name = summary_ms(samples["name"])
    emit(
        "mixed",
        {
            "db": args.db,
            "workers": args.workers,
            "worker_args": args.worker_args,
            "seed": seeded,
            "gap_ms": args.gap_ms,
            "views_open_latency_idle": summary_ms(idle),
            "views_open_latency_under_load": overall,
            "by_query_under_load": {kind: summary_ms(values) for kind, values in samples.items() if values},
            "ack_latency_under_load": summary_ms(acks),
            "webhooks": {k: v for k, v in flood.items() if k != "started_wall"},
            "ingestion": {
                **ingestion,
                "backlog_when_posting_ended": backlog_at_end,
                "backlog_when_all_answered": backlog_after_responses,
                "seconds_posting_end_to_last_processed": drain_after_posting,
                "drained": drained,
                "kept_up": drained
                and drain_after_posting is not None
                and drain_after_posting <= KEPT_UP_SECONDS,
                "kept_up_means": f"backlog drained <= {KEPT_UP_SECONDS} s after the last POST",
            },
            "stored": stored,
            "lost_deliveries": flood["accepted_posts"] - stored["webhook_deliveries"],
            "goals": {
                "views_open_p99<=50ms": overall["p99_ms"] <= 50,
                "name_search_p99<=20ms": bool(samples["name"]) and name["p99_ms"] <= 20,
                "no_5xx": flood["server_errors"] == 0,
            },
        },
        app,
        tag=f"w{args.workers}" if args.workers else "",
        out=args.out,
    )


if __name__ == "__main__":
    main()
