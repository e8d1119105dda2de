"""`contato-bot prune [--older-than 30d] [--json]`: delete processed webhook bodies and empty old
message texts (LGPD), never a delivery not yet processed. Without `--older-than` the ages come
from `retention` in contato.yml (what `serve` prunes daily)."""

from __future__ import annotations

import argparse
import json
import re
from datetime import timedelta

from bot.cli.common import UsageError, open_runtime

_AGE = re.compile(r"^\s*(\d+)\s*([dh]?)\s*$", re.IGNORECASE)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("prune", help="delete processed webhook bodies and old message texts")
    parser.add_argument(
        "--older-than",
        help="age like 30d or 12h, for both (default: retention.webhook_days / message_days)",
    )
    parser.add_argument("--json", action="store_true", help="print what was removed as JSON")


def parse_age(value: str) -> timedelta:
    """`30d`, `12h` or `30` (days) as a timedelta; UsageError otherwise."""
    match = _AGE.match(value)
    if match is None or int(match.group(1)) == 0:
        raise UsageError(f"--older-than {value!r} is not an age (e.g. 30d or 12h).")
    amount = int(match.group(1))
    return timedelta(hours=amount) if match.group(2).lower() == "h" else timedelta(days=amount)


def run(args: argparse.Namespace, config_path: str) -> int:
    from bot.core.retention import configured_ages, prune

    age = parse_age(args.older_than) if args.older_than else None
    with open_runtime(config_path) as rt:
        webhooks, messages = (age, age) if age is not None else configured_ages(rt)
        pruned = prune(rt, rt.now(), webhooks_older_than=webhooks, messages_older_than=messages)
    if args.json:
        print(json.dumps(pruned.to_dict()))
    else:
        print(
            f"deleted {pruned.webhook_bodies} processed webhook bodies and {pruned.sandbox_sends} sandbox "
            f"sends; emptied the texts of {pruned.message_texts} messages and {pruned.referrals} referrals."
        )
    return 0
