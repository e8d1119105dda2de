"""Open-loop webhook load: 360dialog POSTs (bench.webhooks' traffic) sent on a fixed schedule of
events per second, whether or not the server keeps up, in its own process (so the load generator
does not share a GIL with the measuring side). Used by bench.mixed.

`python -m bench.pace URL --events-per-second 4000 --seconds 30 [--contacts 100000]`

Prints `started <unix time>` when the first POST is due, `posted <unix time>` when the last one has
been sent, then one JSON line: what was offered and accepted, status codes, and the response time
of each POST from its scheduled send (so waiting for a free connection counts: no coordinated
omission).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from typing import Any

from bench.common import D360_CHANNEL, WEBHOOK_SECRET, summary_ms
from bench.webhooks import sized_traffic

MEAN_EVENTS_PER_POST = 0.6 * 1 + 0.25 * 6 + 0.15 * 30.5  # the size mix of bench.webhooks.traffic


async def pace(
    url: str, bodies: list[bytes], sizes: list[int], rate: float, connections: int
) -> dict[str, Any]:
    import aiohttp

    headers = {"Content-Type": "application/json", "X-Webhook-Secret": WEBHOOK_SECRET}
    latencies: list[float] = []
    codes: dict[int, int] = {}
    accepted_events = 0
    last_accepted = 0.0
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as client:

        async def post(i: int, due: float) -> None:
            nonlocal accepted_events, last_accepted
            try:
                async with client.post(url, data=bodies[i], headers=headers) as response:
                    await response.read()
                    code = response.status
            except (TimeoutError, aiohttp.ClientError):
                code = 0
            done = time.perf_counter()
            latencies.append(done - due)
            codes[code] = codes.get(code, 0) + 1
            if code == 200:
                accepted_events += sizes[i]
                last_accepted = max(last_accepted, done)

        start = time.perf_counter() + 0.05
        start_wall = time.time() + 0.05
        print(f"started {start_wall}", flush=True)
        tasks = []
        behind = 0.0  # how late the generator itself started a POST: it must stay small
        offered = 0
        for i in range(len(bodies)):
            due = start + offered / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                behind = max(behind, -delay)
            tasks.append(asyncio.create_task(post(i, due)))
            offered += sizes[i]
        posted = time.perf_counter()
        print(f"posted {time.time()}", flush=True)
        await asyncio.gather(*tasks)
    span = posted - start
    accepted_span = last_accepted - start
    return {
        "posts": len(bodies),
        "events": offered,
        "seconds_posting": round(span, 2),
        "offered_events_per_s": round(offered / span, 1),
        "accepted_posts": codes.get(200, 0),
        "accepted_events": accepted_events,
        "achieved_events_per_s": round(accepted_events / accepted_span, 1) if accepted_span > 0 else None,
        "codes": codes,
        "server_errors": sum(n for code, n in codes.items() if code >= 500 or code == 0),
        "post_response_time_from_schedule": summary_ms(latencies),
        "generator_max_behind_ms": round(behind * 1000, 1),
        "started_wall": start_wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the app's base URL")
    parser.add_argument("--events-per-second", type=float, default=4000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    posts = max(1, math.ceil(args.events_per_second * args.seconds / MEAN_EVENTS_PER_POST))
    bodies, sizes, sent = sized_traffic(posts, args.contacts, args.seed)
    result = asyncio.run(
        pace(f"{args.url}/webhooks/{D360_CHANNEL}", bodies, sizes, args.events_per_second, args.connections)
    )
    print(json.dumps({**result, "sent": sent}), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
