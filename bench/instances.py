"""#5 Several instances on PostgreSQL behind one address: throughput, alerts exactly once, nothing lost.

`python -m bench.instances [--instances 1 2] [--posts 4000] [--due 2000] [--app-root PATH]`

For each instance count: a fresh PostgreSQL database (N contacts, `--due` windows expiring within
the alert lead, scan every 5 s), that many `serve` processes sharing one listening socket
(bench.serve_shared), the webhook load of bench.webhooks, then a wait until every delivery is
processed and every due window's alert is posted. Every alert button posted to the fake Slack is
counted: exactly once means as many buttons as due windows, none twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bench.common import (
    WORK,
    App,
    add_app_args,
    bench_path,
    database_url,
    emit,
    select_app,
    serve_env,
    stop,
    wait_healthy,
    write_config,
)
from bench.seed import seed
from bench.webhooks import count_stored, load, lost_of, sustained, traffic, wait_drained
from bot.blocks.alerts import RESUME_ACTION_ID
from bot.store.db import Store
from bot.store.models import AlertClaim
from tests.e2e.fake_slack import FakeSlack


def buttons(node: Any) -> list[str]:
    """Every resume button's value in a Block Kit structure."""
    if isinstance(node, dict):
        found = [str(node.get("value"))] if node.get("action_id") == RESUME_ACTION_ID else []
        return found + [v for child in node.values() for v in buttons(child)]
    if isinstance(node, list):
        return [v for child in node for v in buttons(child)]
    return []


def run(
    app: App, instances: int, args: argparse.Namespace, bodies: list[bytes], sent: dict[str, int]
) -> dict[str, Any]:
    url = database_url("postgres", f"instances{instances}")
    start = datetime.now(UTC) + timedelta(seconds=20)
    seeded = seed(
        url, contacts=args.contacts, windows=args.due, window_spread=timedelta(minutes=30), window_start=start
    )
    config = write_config(WORK / "instances.yml", scan_seconds=5)
    slack = FakeSlack().start()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    listener.set_inheritable(True)
    port = listener.getsockname()[1]
    python_path, cwd = bench_path(app.root)  # bench.serve_shared builds the measured app
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.serve_shared", str(config), str(listener.fileno())],
            env={**serve_env(url, slack.url), "PYTHONPATH": python_path},
            cwd=cwd,
            pass_fds=(listener.fileno(),),
            stdout=subprocess.DEVNULL,
            stderr=open(WORK / f"instance-{instances}-{i}.log", "wb"),  # noqa: SIM115
        )
        for i in range(instances)
    ]
    store = Store.from_url(url)
    try:
        for proc in procs:
            wait_healthy(f"http://127.0.0.1:{port}", proc)
        time.sleep(2)
        accepting = asyncio.run(load(f"http://127.0.0.1:{port}", bodies, args.concurrency))
        accepting.pop("_started")
        started_wall = accepting.pop("_started_wall")
        wait_drained(store, accepting["codes"].get(200, 0))
        ingestion = sustained(store, sent["events"], started_wall, time.time())
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # the last due window expires 30 min - lead later: all due now
            with store.session() as session:
                posted = session.scalar(
                    select(func.count()).select_from(AlertClaim).where(AlertClaim.posted_at.isnot(None))
                )
            if posted is not None and posted >= args.due:
                break
            time.sleep(1)
        time.sleep(6)  # one more scan: a duplicate would show now
    finally:
        for proc in procs:
            stop(proc)
        slack.stop()
        listener.close()
    stored = count_stored(store)
    with store.session() as session:
        claims = session.scalar(select(func.count()).select_from(AlertClaim))
        claims_posted = session.scalar(
            select(func.count()).select_from(AlertClaim).where(AlertClaim.posted_at.isnot(None))
        )
    store.dispose()
    values = [v for call in slack.of("chat.postMessage") for v in buttons(call.args.get("blocks"))]
    keys = [json.dumps(json.loads(v), sort_keys=True) for v in values]
    return {
        "instances": instances,
        "seed": seeded,
        "accepting": accepting,
        "ingestion": ingestion,
        "sustained_events_per_s": ingestion["events_per_s"],
        "stored": stored,
        "lost": lost_of(sent, stored),
        "alerts": {
            "due_windows": args.due,
            "claims": claims,
            "claims_posted": claims_posted,
            "buttons_posted": len(keys),
            "distinct_buttons": len(set(keys)),
            "digests": len(slack.of("chat.postMessage")),
            "exactly_once": len(keys) == len(set(keys)) == args.due,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--due", type=int, default=2000)
    add_app_args(parser, workers=False)
    args = parser.parse_args()
    app = select_app(args)
    bodies, sent = traffic(args.posts, args.contacts)
    runs = [run(app, n, args, bodies, sent) for n in args.instances]
    emit("instances", {"db": "postgres", "sent": sent, "runs": runs}, app, out=args.out)


if __name__ == "__main__":
    main()
