"""#2 Webhook ingestion: sustained events/s, POST latency, and nothing lost; against a bare endpoint.

`python -m bench.webhooks [--db sqlite|postgres] [--posts 4000] [--concurrency 48] [--workers N]
[--app-root PATH]`

Realistic 360dialog traffic (Meta's envelope, `X-Webhook-Secret`): outbound messages each get
sent (with conversation and pricing), delivered and read statuses, plus inbound customer messages
(one per three outbound), packed 1 to 50 events per POST (60 % single events, 25 % 2-10, 15 %
11-50) to seeded contacts. An async load generator (httpx, N concurrent connections) posts the same
bodies to a bare uvicorn endpoint (the ceiling) and to `contato-bot serve`, in the same run.
Accepted rate = 200s/s while posting; sustained events/s = events / (first POST -> the newest
`processed_at` of a delivery); then stored rows are counted against what was sent. `--workers 0`:
`serve` ingests in-process (today's only mode); `--workers N`: `serve --ingest off` plus N
`contato-bot worker` processes draining the stored deliveries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from bench.common import (
    D360_CHANNEL,
    ROOT,
    WEBHOOK_SECRET,
    WORK,
    add_app_args,
    attach_py_spy,
    database_url,
    emit,
    free_port,
    select_app,
    start_app,
    stop,
    summary_ms,
    wait_healthy,
    write_config,
)
from bench.seed import NOW, phone, seed
from bot.store.db import Store
from bot.store.models import CustomerEvent, StatusEvent, WebhookDelivery
from tests.e2e.fake_slack import FakeSlack


def envelope(statuses: list[dict[str, Any]], messages: list[dict[str, Any]]) -> bytes:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "551140000001", "phone_number_id": "106540352242922"},
    }
    if statuses:
        value["statuses"] = statuses
    if messages:
        value["contacts"] = [{"profile": {"name": "Cliente"}, "wa_id": m["from"]} for m in messages]
        value["messages"] = messages
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }
    return json.dumps(body).encode()


def traffic(posts: int, contacts: int, seed_: int = 2) -> tuple[list[bytes], dict[str, int]]:
    """POST bodies and what they carry: statuses (distinct (message, status)) and inbound messages."""
    bodies, _sizes, counts = sized_traffic(posts, contacts, seed_)
    return bodies, counts


def sized_traffic(posts: int, contacts: int, seed_: int = 2) -> tuple[list[bytes], list[int], dict[str, int]]:
    """`traffic`, with the number of events in each body (to pace POSTs by events/s)."""
    rng = random.Random(seed_)
    base = int(NOW.timestamp()) - 3600
    events: list[tuple[str, dict[str, Any]]] = []
    sizes = [
        1 if r < 0.6 else rng.randint(2, 10) if r < 0.85 else rng.randint(11, 50)
        for r in (rng.random() for _ in range(posts))
    ]
    wanted = sum(sizes)
    n = 0
    while len(events) < wanted:
        contact = rng.randint(1, contacts)
        wa_id = phone(contact)[1:]
        t = base + n
        msg_id = f"wamid.bench.{n}"
        conversation = {
            "id": f"conv.{contact}.{n // 50}",
            "expiration_timestamp": str(t + 86400),
            "origin": {"type": "utility"},
        }
        pricing = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
        for status, dt in (("sent", 0), ("delivered", 2), ("read", 30)):
            s: dict[str, Any] = {
                "id": msg_id,
                "status": status,
                "timestamp": str(t + dt),
                "recipient_id": wa_id,
            }
            if status == "sent":
                s["conversation"], s["pricing"] = conversation, pricing
            events.append(("status", s))
        if n % 3 == 0:
            events.append(
                (
                    "message",
                    {
                        "from": wa_id,
                        "id": f"wamid.in.{n}",
                        "timestamp": str(t + 60),
                        "type": "text",
                        "text": {"body": "Oi, tudo bem? Preciso de ajuda com meu pedido."},
                    },
                )
            )
        n += 1
    events = events[:wanted]
    bodies, i = [], 0
    for size in sizes:
        chunk = events[i : i + size]
        i += size
        bodies.append(
            envelope([e for k, e in chunk if k == "status"], [e for k, e in chunk if k == "message"])
        )
    counts = {
        "posts": len(bodies),
        "events": wanted,
        "statuses": sum(1 for k, _ in events if k == "status"),
        "inbound": sum(1 for k, _ in events if k == "message"),
    }
    return bodies, sizes, counts


async def load(base_url: str, bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    """Post every body once over `concurrency` keep-alive connections; latencies and status codes.
    aiohttp, not httpx: httpx's async pool collapses past ~10 connections (278 req/s at 48 against
    the bare endpoint, where aiohttp does ~7,000), which would measure the client, not the server."""
    import aiohttp

    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    codes: dict[int, int] = {}
    headers = {"Content-Type": "application/json", "X-Webhook-Secret": WEBHOOK_SECRET}
    url = f"{base_url}/webhooks/{D360_CHANNEL}"
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                try:
                    async with client.post(url, data=body, headers=headers) as response:
                        await response.read()
                        code = response.status
                except aiohttp.ClientError:
                    code = 0
                latencies.append(time.perf_counter() - started)
                codes[code] = codes.get(code, 0) + 1

        started, started_wall = time.perf_counter(), time.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(bodies) / elapsed, 1),
        "latency": summary_ms(latencies),
        "codes": codes,
        "_started": started,
        "_started_wall": started_wall,
    }


def run_bare(bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bare", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        result = asyncio.run(load(f"http://127.0.0.1:{port}", bodies, concurrency))
    finally:
        stop(proc)
    result.pop("_started")
    result.pop("_started_wall")
    return result


def wait_drained(store: Store, posts: int, timeout: float = 1800) -> float:
    """Poll until every accepted delivery is processed; returns the monotonic time it happened."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if processed(store) >= posts:
            return time.perf_counter()
        time.sleep(0.2)
    raise SystemExit("deliveries not processed in time")


def processed(store: Store) -> int:
    with store.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.processed_at.isnot(None))
            )
            or 0
        )


def backlog(store: Store) -> int:
    """Deliveries stored and not processed yet (parked ones included: they were not ingested)."""
    with store.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.processed_at.is_(None))
            )
            or 0
        )


def last_processed_wall(store: Store) -> float | None:
    """The newest `processed_at` (naive UTC in the database) as a Unix time."""
    with store.session() as session:
        newest = session.scalar(select(func.max(WebhookDelivery.processed_at)))
    if newest is None:
        return None
    if isinstance(newest, str):  # SQLite through a bare func.max: SQLAlchemy's text format
        newest = datetime.fromisoformat(newest)
    return float(newest.replace(tzinfo=UTC).timestamp())


def sustained(store: Store, events: int, started_wall: float, drained_at_wall: float) -> dict[str, Any]:
    """Ingestion from the first POST to the newest `processed_at` (the app's clock, same machine);
    the poll that saw the queue empty is the fallback (0.2 s coarser)."""
    last = last_processed_wall(store)
    seconds = (last if last is not None else drained_at_wall) - started_wall
    return {
        "seconds_first_post_to_last_processed": round(seconds, 2),
        "events_per_s": round(events / seconds, 1) if seconds > 0 else None,
    }


def count_stored(store: Store) -> dict[str, int]:
    with store.session() as session:

        def n(stmt: Any) -> int:
            return int(session.scalar(stmt) or 0)

        return {
            "webhook_deliveries": n(select(func.count()).select_from(WebhookDelivery)),
            "deliveries_with_error": n(
                select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.error.isnot(None))
            ),
            "status_events": n(
                select(func.count()).select_from(StatusEvent).where(StatusEvent.channel_id == D360_CHANNEL)
            ),
            "customer_messages": n(
                select(func.count())
                .select_from(CustomerEvent)
                .where(CustomerEvent.channel_id == D360_CHANNEL, CustomerEvent.kind == "customer")
            ),
        }


def ingestion_floor(db: str) -> int:
    """Issue 14's events/s goal for one worker on this database."""
    return 10_000 if db == "sqlite" else 6_000


def lost_of(sent: dict[str, int], stored: dict[str, int]) -> dict[str, int]:
    """What was sent and is not stored (`count_stored`): deliveries, statuses, inbound messages."""
    return {
        "deliveries": sent["posts"] - stored["webhook_deliveries"],
        "statuses": sent["statuses"] - stored["status_events"],
        "inbound": sent["inbound"] - stored["customer_messages"],
    }


def goals(
    db: str, ratio: float, events_per_s: float | None, p99_ms: float, lost_nothing: bool
) -> dict[str, bool]:
    """Issue 14's goals for ingestion (the events/s one is for one worker)."""
    floor = ingestion_floor(db)
    return {
        "ratio_to_bare>=0.5": ratio >= 0.5,
        f"events_per_s>={floor}": events_per_s is not None and events_per_s >= floor,
        "p99<=100ms": p99_ms <= 100,
        "nothing_lost": lost_nothing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000, help="events seeded before the run")
    parser.add_argument("--posts", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--profile", action="store_true", help="py-spy the server (needs py-spy)")
    add_app_args(parser)
    args = parser.parse_args()
    app = select_app(args)

    bodies, sent = traffic(args.posts, args.contacts)
    bare = run_bare(bodies, args.concurrency)

    url = database_url(args.db, "webhooks")
    seeded = seed(url, contacts=args.contacts, events=args.events)
    slack = FakeSlack().start()
    port = free_port()
    running = start_app(
        app,
        write_config(WORK / "webhooks.yml"),
        url,
        slack.url,
        port,
        workers=args.workers,
        worker_args=shlex.split(args.worker_args),
    )
    store = Store.from_url(url)
    spy = None
    if args.profile:
        spy = attach_py_spy(
            running.serve.pid,
            WORK / f"profile-webhooks-{args.db}-w{args.workers}.txt",
            subprocesses=True,
        )
    try:
        accepting = asyncio.run(load(f"http://127.0.0.1:{port}", bodies, args.concurrency))
        accepting.pop("_started")
        started_wall = accepting.pop("_started_wall")
        backlog_when_posting_ended = backlog(store)
        wait_drained(store, accepting["codes"].get(200, 0))
        ingestion = sustained(store, sent["events"], started_wall, time.time())
        running.check_alive()
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait(timeout=60)
        running.stop()
        slack.stop()
    stored = count_stored(store)
    store.dispose()
    lost = lost_of(sent, stored)
    ratio = accepting["requests_per_s"] / bare["requests_per_s"]
    server_errors = sum(n for code, n in accepting["codes"].items() if code >= 500 or code == 0)
    emit(
        "webhooks",
        {
            "db": args.db,
            "workers": args.workers,
            "worker_args": args.worker_args,
            "seed": seeded,
            "sent": sent,
            "bare_endpoint": bare,
            "app_accepting": accepting,
            "app_vs_bare_requests": round(ratio, 3),
            "accepted_events_per_s": round(sent["events"] / accepting["seconds"], 1),
            "server_errors": server_errors,
            "backlog_when_posting_ended": backlog_when_posting_ended,
            "ingestion": ingestion,
            "sustained_events_per_s": ingestion["events_per_s"],
            "stored": stored,
            "lost": lost,
            "goals": goals(
                args.db,
                ratio,
                ingestion["events_per_s"],
                accepting["latency"]["p99_ms"],
                not any(lost.values()) and stored["deliveries_with_error"] == 0 and not server_errors,
            ),
        },
        app,
        tag=f"w{args.workers}" if args.workers else "",
        out=args.out,
    )


if __name__ == "__main__":
    main()
