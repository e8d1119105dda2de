"""`contato-bot webhooks [--failed] [--json] [--limit N]`: webhook deliveries stored and not
ingested (all of them, or with `--failed` those whose processing recorded an error), each with
why, without SQL. `webhook replay` (singular) feeds saved payloads in."""

from __future__ import annotations

import argparse
import json

from bot.cli.common import open_runtime


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("webhooks", help="webhook deliveries not ingested, and why")
    parser.add_argument("--failed", action="store_true", help="only those whose processing failed")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--limit", type=int, default=200, help="oldest N (default 200)")


def run(args: argparse.Namespace, config_path: str) -> int:
    from bot.store import deliveries

    with open_runtime(config_path) as rt:
        catalog = rt.catalog
        with rt.store.session() as session:
            rows = deliveries.unprocessed_deliveries(
                session, with_error_only=args.failed, limit=max(1, args.limit)
            )
    if not rows and not args.json:
        print(catalog.t("ops.none.webhooks"))
    for delivery_id, channel_id, received_at, error in rows:
        why = catalog.t("ops.webhook.failed", error=error) if error else catalog.t("ops.webhook.waiting")
        if args.json:
            print(
                json.dumps(
                    {
                        "id": delivery_id,
                        "channel": channel_id,
                        "received_at": received_at.isoformat(),
                        "error": error,
                        "why": why,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            print(f"#{delivery_id}  {channel_id}  {received_at:%Y-%m-%d %H:%M:%S} UTC  {why}")
    return 0
