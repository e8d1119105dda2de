"""#2 Webhook ingestion: sustained events/s, POST latency, and nothing lost; against a bare endpoint.

`python -m bench.webhooks [--db sqlite|postgres] [--posts 4000] [--concurrency 48]`

Realistic 360dialog traffic (Meta's envelope, `X-Webhook-Secret`): outbound messages each get
sent (with conversation and pricing), delivered and read statuses, plus inbound customer messages
(one per three outbound), packed 1 to 50 events per POST (60 % single events, 25 % 2-10, 15 %
11-50) to seeded contacts. An async load generator (httpx, N concurrent connections) posts the same
bodies to a bare uvicorn endpoint (the ceiling) and to `contato-bot serve`. Accepted rate = 200s/s
while posting; sustained events/s = events / (first POST -> last delivery processed); then stored
rows are counted against what was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import (
    D360_CHANNEL,
    WEBHOOK_SECRET,
    WORK,
    database_url,
    emit,
    free_port,
    start_serve,
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
    return bodies, counts


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

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(bodies) / elapsed, 1),
        "latency": summary_ms(latencies),
        "codes": codes,
        "_started": started,
    }


def run_bare(bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bare", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        result = asyncio.run(load(f"http://127.0.0.1:{port}", bodies, concurrency))
    finally:
        stop(proc)
    result.pop("_started")
    return result


def wait_drained(store: Store, posts: int, timeout: float = 1800) -> float:
    """Poll until every accepted delivery is processed; returns the monotonic time it happened."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        with store.session() as session:
            done = session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.processed_at.isnot(None))
            )
        if done is not None and done >= posts:
            return time.perf_counter()
        time.sleep(0.2)
    raise SystemExit("deliveries not processed in time")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000, help="events seeded before the run")
    parser.add_argument("--posts", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--profile", action="store_true", help="py-spy the server (needs py-spy)")
    args = parser.parse_args()

    bodies, sent = traffic(args.posts, args.contacts)
    bare = run_bare(bodies, args.concurrency)

    url = database_url(args.db, "webhooks")
    seeded = seed(url, contacts=args.contacts, events=args.events)
    slack = FakeSlack().start()
    port = free_port()
    proc = start_serve(write_config(WORK / "webhooks.yml"), url, slack.url, port)
    store = Store.from_url(url)
    spy = None
    if args.profile:
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--format",
                "raw",
                "--nonblocking",
                "-o",
                str(WORK / f"profile-webhooks-{args.db}.txt"),
                "-p",
                str(proc.pid),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)
    try:
        app = asyncio.run(load(f"http://127.0.0.1:{port}", bodies, args.concurrency))
        drained_at = wait_drained(store, app["codes"].get(200, 0))
        sustained_s = drained_at - app.pop("_started")
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait(timeout=60)
        stop(proc)
        slack.stop()
    stored = count_stored(store)
    store.dispose()
    events_per_s = sent["events"] / sustained_s
    lost = {
        "deliveries": sent["posts"] - stored["webhook_deliveries"],
        "statuses": sent["statuses"] - stored["status_events"],
        "inbound": sent["inbound"] - stored["customer_messages"],
    }
    ratio = app["requests_per_s"] / bare["requests_per_s"]
    goals = {
        "ratio_to_bare>=0.5": ratio >= 0.5,
        "events_per_s>=4000": events_per_s >= 4000,
        "p99<=250ms": app["latency"]["p99_ms"] <= 250,
        "nothing_lost": not any(lost.values()) and stored["deliveries_with_error"] == 0,
    }
    emit(
        "webhooks",
        {
            "db": args.db,
            "date": "2026-11-25",
            "command": f"python -m bench.webhooks --db {args.db} --posts {args.posts} "
            f"--concurrency {args.concurrency}",
            "seed": seeded,
            "sent": sent,
            "bare_endpoint": bare,
            "app_accepting": app,
            "app_vs_bare_requests": round(ratio, 3),
            "accepted_events_per_s": round(sent["events"] / app["seconds"], 1),
            "sustained_seconds_to_all_processed": round(sustained_s, 2),
            "sustained_events_per_s": round(events_per_s, 1),
            "stored": stored,
            "lost": lost,
            "goals": goals,
        },
    )


if __name__ == "__main__":
    main()
