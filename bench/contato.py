"""#1 `/contato` -> views.open latency with N contacts and M stored events.

`python -m bench.contato [--db sqlite|postgres] [--contacts 100000] [--events 1000000] [--requests 500]`

Runs `contato-bot serve` (a subprocess, as in production) against a fake Slack Web API in this
process. Each sample: a Slack-signed `/contato <query>` is sent, and the time is taken when the
fake Slack receives the matching `views.open`. Client send -> fake-Slack arrival on the same machine
(monotonic clock) approximates the server-side latency from the signed request's arrival to the
views.open call leaving; it includes two loopback hops (~0.2 ms each). Requests are sequential (one
agent at a time): this is latency, not throughput.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.requests import Request
from starlette.responses import Response

from bench.common import WORK, database_url, emit, free_port, start_serve, stop, summary_ms, write_config
from bench.seed import phone, seed
from tests.e2e.fake_slack import FakeSlack
from tests.e2e.harness import sign


class TimedSlack(FakeSlack):
    """The e2e fake Slack, noting when each views.open arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = threading.Condition()
        self.open_times: dict[str, float] = {}

    async def _handle(self, request: Request) -> Response:
        arrived = time.monotonic()
        response = await super()._handle(request)
        if request.path_params["method"] == "views.open":
            call = self.calls[-1]
            with self.opened:
                self.open_times[str(call.args.get("trigger_id"))] = arrived
                self.opened.notify_all()
        return response

    def wait_open(self, trigger_id: str, timeout: float = 10) -> float:
        with self.opened:
            if not self.opened.wait_for(lambda: trigger_id in self.open_times, timeout):
                raise RuntimeError(f"no views.open for {trigger_id}")
            return self.open_times[trigger_id]


def human(e164: str) -> str:
    """+5511960001234 -> '(11) 96000-1234': what agents type."""
    national = e164[3:]
    return f"({national[:2]}) {national[2:7]}-{national[7:]}"


def command(client: httpx.Client, slack: TimedSlack, text: str, n: int) -> tuple[float, float]:
    trigger = f"bench-{n}"
    body = urlencode(
        {
            "command": "/contato",
            "text": text,
            "user_id": "UAGENT",
            "user_name": "agent",
            "channel_id": "CSUPPORT",
            "team_id": "T1",
            "trigger_id": trigger,
            "response_url": "https://hooks.slack.invalid/x",
            "api_app_id": "A1",
        }
    ).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, secret=_secret())}
    sent = time.monotonic()
    response = client.post("/slack/events", content=body, headers=headers)
    acked = time.monotonic()
    response.raise_for_status()
    return slack.wait_open(trigger) - sent, acked - sent


def _secret() -> str:
    from bench.common import SIGNING_SECRET

    return SIGNING_SECRET


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--reuse", action="store_true", help="reuse the database of a previous run")
    args = parser.parse_args()

    url = database_url(args.db, "contato", fresh=not args.reuse)
    seeded = {} if args.reuse else seed(url, contacts=args.contacts, events=args.events)
    config = write_config(WORK / "contato.yml")
    slack = TimedSlack()
    slack.start()
    port = free_port()
    proc = start_serve(config, url, slack.url, port)
    rng = random.Random(5)
    samples: dict[str, list[float]] = {"phone": [], "name": [], "new_number": [], "empty": []}
    acks: list[float] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for n in range(30):  # warm-up: imports, template cache, connection pool
                command(client, slack, human(phone(rng.randint(1, args.contacts))), -1 - n)
            for n in range(args.requests):
                roll = rng.random()
                kind: str
                if roll < 0.7:
                    kind, text = "phone", human(phone(rng.randint(1, args.contacts)))
                elif roll < 0.85:
                    kind, text = "name", f"Cliente {rng.randint(1, args.contacts)}"
                elif roll < 0.95:
                    kind, text = "new_number", human(phone(args.contacts + rng.randint(1, 10**6)))
                else:
                    kind, text = "empty", ""
                latency, ack = command(client, slack, text, n)
                samples[kind].append(latency)
                acks.append(ack)
    finally:
        stop(proc)
        slack.stop()
    everything = [v for values in samples.values() for v in values]
    overall = summary_ms(everything)
    result: dict[str, Any] = {
        "db": args.db,
        "date": "2026-11-25",
        "command": f"python -m bench.contato --db {args.db} --contacts {args.contacts} "
        f"--events {args.events}",
        "seed": seeded,
        "views_open_latency_all": overall,
        "by_query": {kind: summary_ms(values) for kind, values in samples.items() if values},
        "ack_latency": summary_ms(acks),
        "goal_p99_ms": 50,
        "goal_met": overall["p99_ms"] <= 50,
    }
    emit("contato", result)


if __name__ == "__main__":
    main()
