"""Every benchmark docs/benchmarks.md needs, one after another, then a markdown table of the key
numbers.

`python -m bench.run_all [--before PATH] [--app-root PATH] [--only NAME ...] [--quick] [--table-only]`

The *after* round measures this checkout (or `--app-root`); `--before PATH` adds a round against an
older checkout with the runs it can do (no workers: `serve` ingests in-process). Each run is a
subprocess (`python -m bench.NAME ...`) whose JSON goes to BENCH_DIR/<round>/<run>.json and whose
output to BENCH_DIR/<round>/<run>.log (BENCH_DIR defaults to /tmp/contato-bench). A failed run is
reported and the others still run. `--table-only` prints the table from the files already there.

Runs and their sizes are those of the doc; on a 2-core machine the whole set takes ~19 min with a
before round (~12 min without): see RUNS for each one's estimate.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import ROOT, WORK


@dataclass(frozen=True)
class Run:
    bench: str
    db: str
    workers: int = 0
    extra: tuple[str, ...] = ()
    seconds: int = 40  # the estimate on the 2-core machine, seed included

    @property
    def id(self) -> str:
        return f"{self.bench}-{self.db}-w{self.workers}"

    def argv(self, quick: bool) -> list[str]:
        args = ["--db", self.db, *self.extra]
        if self.bench in ("webhooks", "mixed", "memory", "drain"):
            args += ["--workers", str(self.workers)]
        if quick:
            args += QUICK.get(self.bench, [])
        return [sys.executable, "-m", f"bench.{self.bench}", *args]


# The sizes are each benchmark's defaults (100k contacts, 1M events or windows, 4,000 POSTs, 30 s of
# flood), except: contato times 1,000 screens instead of 500, so its name-search p99 rests on ~150
# samples instead of ~75.
RUNS = [
    Run("webhooks", "postgres", 0, seconds=40),
    Run("webhooks", "postgres", 1, seconds=40),
    Run("webhooks", "postgres", 2, seconds=40),
    Run("webhooks", "sqlite", 0, seconds=35),
    Run("webhooks", "sqlite", 1, seconds=35),
    Run("expiry", "postgres", seconds=45),
    Run("expiry", "sqlite", seconds=35),
    Run("contato", "postgres", extra=("--requests", "1000"), seconds=40),
    Run("contato", "sqlite", extra=("--requests", "1000"), seconds=35),
    Run("mixed", "postgres", 1, seconds=80),
    Run("mixed", "sqlite", 0, seconds=75),
    Run("mixed", "sqlite", 1, seconds=75),
    Run("memory", "postgres", 1, seconds=45),
    # The worker alone on a stored backlog (needs `worker --once` timing: after round only).
    Run("drain", "postgres", 1, seconds=45),
    Run("drain", "postgres", 2, seconds=45),
    Run("drain", "sqlite", 1, seconds=40),
]
# What a checkout without `contato-bot worker` can run: workers 0 only, and the two runs the after
# round leaves out to stay within time (mixed and memory on PostgreSQL in-process).
BEFORE_RUNS = [run for run in RUNS if run.workers == 0 and run.bench != "drain"] + [
    Run("mixed", "postgres", 0, seconds=80),
    Run("memory", "postgres", 0, seconds=45),
]
EVERY_RUN = RUNS + BEFORE_RUNS[-2:]
# --quick: a smoke test of the whole pipeline (minutes), not numbers for the doc.
QUICK = {
    "webhooks": ["--contacts", "10000", "--events", "100000", "--posts", "1000"],
    "expiry": ["--contacts", "10000", "--windows", "100000", "--scans", "10"],
    "contato": ["--contacts", "10000", "--events", "100000", "--requests", "200"],
    "mixed": ["--contacts", "10000", "--events", "100000", "--seconds", "5", "--idle-requests", "50"],
    "memory": ["--contacts", "10000", "--events", "100000"],
    "drain": ["--contacts", "10000", "--events", "100000", "--posts", "1000"],
}


def execute(run: Run, round_dir: Path, app_root: Path | None, quick: bool, worker_args: str) -> bool:
    argv = run.argv(quick) + ["--out", str(round_dir / f"{run.id}.json")]
    if app_root is not None:
        argv += ["--app-root", str(app_root)]
    if run.workers and worker_args:
        argv += ["--worker-args", worker_args]
    env = {**os.environ, "BENCH_DIR": str(round_dir)}
    env.pop("BENCH_APP_ROOT", None)  # --app-root says it
    (round_dir / f"{run.id}.json").unlink(missing_ok=True)
    started = time.monotonic()
    with open(round_dir / f"{run.id}.log", "wb") as log:
        done = subprocess.run(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    took = time.monotonic() - started
    status = "ok" if done.returncode == 0 else f"FAILED ({done.returncode}), see {round_dir / run.id}.log"
    print(f"  {run.id}: {status} in {took:.0f} s (estimated {run.seconds} s)", flush=True)
    return done.returncode == 0


# ---- the table -------------------------------------------------------------------------------------


def load(round_dir: Path, run: Run) -> dict[str, Any] | None:
    path = round_dir / f"{run.id}.json"
    return json.loads(path.read_text()) if path.exists() else None


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def rows(rounds: dict[str, Path], bench: str) -> list[tuple[str, Run, dict[str, Any]]]:
    found = []
    for label, round_dir in rounds.items():
        for run in EVERY_RUN:
            if run.bench == bench:
                result = load(round_dir, run)
                if result is not None:
                    found.append((label, run, result))
    return found


def table(header: list[str], lines: list[list[str]]) -> str:
    if not lines:
        return "(no results)"
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def summary(rounds: dict[str, Path]) -> str:
    parts = []

    def who(label: str, r: dict[str, Any]) -> str:
        return f"{label} `{r.get('commit')}`"

    lines = []
    for label, run, r in rows(rounds, "webhooks"):
        lost = r["lost"]
        lines.append(
            [
                who(label, r),
                run.db,
                str(run.workers),
                fmt(r["bare_endpoint"]["requests_per_s"], 0),
                fmt(r["app_accepting"]["requests_per_s"], 0),
                f"{r['app_vs_bare_requests'] * 100:.0f} %",
                fmt(r["app_accepting"]["latency"]["p99_ms"]),
                fmt(r.get("sustained_events_per_s"), 0),
                fmt(sum(lost.values()) + r["stored"]["deliveries_with_error"]),
                fmt(r.get("server_errors")),
            ]
        )
    header = ["round", "db", "workers", "bare req/s", "accepted req/s", "ratio", "POST p99 ms"]
    header += ["ingested events/s", "lost", "5xx"]
    parts.append("### Webhooks\n\n" + table(header, lines))

    lines = []
    for label, run, r in rows(rounds, "expiry"):
        steady = r["steady_scans_every_30s"]
        lines.append(
            [
                who(label, r),
                run.db,
                fmt(r["first_scan_backlog"]["ms"], 0),
                fmt(steady["p50_ms"]),
                fmt(steady["p99_ms"]),
                fmt(r["full_sweep_nothing_new"]["p50_ms"], 0),
            ]
        )
    header = ["round", "db", "first scan ms", "steady p50 ms", "steady p99 ms", "full sweep p50 ms"]
    parts.append("### Expiry scan\n\n" + table(header, lines))

    lines = []
    for label, run, r in rows(rounds, "contato"):
        every, name = r["views_open_latency_all"], r["by_query"].get("name", {})
        lines.append(
            [
                who(label, r),
                run.db,
                fmt(every["n"]),
                fmt(every["p50_ms"]),
                fmt(every["p99_ms"]),
                fmt(name.get("p50_ms")),
                fmt(name.get("p99_ms")),
            ]
        )
    header = ["round", "db", "n", "p50 ms", "p99 ms", "name p50 ms", "name p99 ms"]
    parts.append("### `/contato` -> `views.open`\n\n" + table(header, lines))

    lines = []
    for label, run, r in rows(rounds, "mixed"):
        load_, name = r["views_open_latency_under_load"], r["by_query_under_load"].get("name", {})
        hooks, ingest = r["webhooks"], r["ingestion"]
        lines.append(
            [
                who(label, r),
                run.db,
                str(run.workers),
                fmt(hooks["offered_events_per_s"], 0),
                fmt(hooks["achieved_events_per_s"], 0),
                fmt(hooks["server_errors"]),
                fmt(ingest["backlog_when_posting_ended"]),
                fmt(ingest["events_per_s"], 0),
                fmt(ingest["kept_up"]),
                fmt(r["views_open_latency_idle"]["p99_ms"]),
                f"{fmt(load_['p50_ms'])} / {fmt(load_['p90_ms'])} / {fmt(load_['p99_ms'])}",
                f"{fmt(name.get('p50_ms'))} / {fmt(name.get('p90_ms'))} / {fmt(name.get('p99_ms'))}",
            ]
        )
    header = ["round", "db", "workers", "offered ev/s", "accepted ev/s", "5xx", "backlog at end"]
    header += ["ingested ev/s", "kept up", "idle p99 ms", "under load p50/p90/p99 ms", "name p50/p90/p99 ms"]
    parts.append("### Mixed: `/contato` while webhooks arrive\n\n" + table(header, lines))

    lines = []
    for label, run, r in rows(rounds, "drain"):
        posting, lost = r["posting"], r["lost"]
        lines.append(
            [
                who(label, r),
                run.db,
                str(run.workers),
                fmt(r.get("bare_endpoint", {}).get("requests_per_s"), 0),
                fmt(posting["requests_per_s"], 0),
                fmt(posting["latency"]["p99_ms"]),
                fmt(posting.get("serve_cpu_ms_per_post"), 3),
                fmt(r["events_per_s"], 0),
                fmt(r.get("worker_cpu_us_per_event")),
                fmt(sum(lost.values()) + r["left_unprocessed"] + r["stored"]["deliveries_with_error"]),
            ]
        )
    header = ["round", "db", "workers", "bare req/s", "serve alone req/s", "POST p99 ms", "serve CPU ms/POST"]
    header += ["drained events/s", "worker CPU us/event", "lost"]
    parts.append("### Drain: the worker alone on a stored backlog\n\n" + table(header, lines))

    lines = []
    for label, run, r in rows(rounds, "memory"):
        peaks = r.get("peak_rss_mb", {})
        workers = [v for k, v in peaks.items() if k.startswith("worker")]
        lines.append(
            [
                who(label, r),
                run.db,
                str(run.workers),
                fmt(r["rss_mb"]["serve"].get("after_start")),
                fmt(peaks.get("serve")),
                fmt(max(workers) if workers else None),
                fmt(r["goal_met"]),
            ]
        )
    header = ["round", "db", "workers", "serve at start MB", "serve peak MB", "worker peak MB", "<= 150 MB"]
    parts.append("### Memory\n\n" + table(header, lines))
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="also measure this older checkout (workers 0 only)")
    parser.add_argument("--app-root", type=Path, help="the checkout of the after round (default: this one)")
    parser.add_argument(
        "--only", nargs="+", help="run ids or benchmark names, e.g. mixed webhooks-postgres-w1"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test, not numbers")
    parser.add_argument("--worker-args", default="", help="passed to every worker run")
    parser.add_argument("--table-only", action="store_true", help="print the table from existing results")
    args = parser.parse_args()

    rounds = {"after": WORK / "after"}
    plan: list[tuple[str, Path | None, list[Run]]] = [("after", args.app_root, RUNS)]
    if args.before is not None:
        rounds = {"before": WORK / "before", **rounds}
        plan.insert(0, ("before", args.before, BEFORE_RUNS))
    if not args.table_only:
        chosen = [
            (label, root, [r for r in runs if not args.only or r.id in args.only or r.bench in args.only])
            for label, root, runs in plan
        ]
        total = sum(r.seconds for _label, _root, runs in chosen for r in runs)
        print(f"{sum(len(runs) for *_, runs in chosen)} runs, estimated {total / 60:.0f} min", flush=True)
        started = time.monotonic()
        failed = []
        for label, root, runs in chosen:
            round_dir = rounds[label]
            round_dir.mkdir(parents=True, exist_ok=True)
            print(f"{label} ({root or ROOT}):", flush=True)
            failed += [
                f"{label}/{r.id}"
                for r in runs
                if not execute(r, round_dir, root, args.quick, args.worker_args)
            ]
        print(f"done in {(time.monotonic() - started) / 60:.1f} min; failed: {', '.join(failed) or 'none'}\n")
    print(summary(rounds))


if __name__ == "__main__":
    main()
