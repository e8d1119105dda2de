"""`contato-bot webhook replay CHANNEL FILE...`: saved payloads through the same parsing and
ingestion as the endpoint (no authentication), printing what each file changed. A bad file gets a
sentence and the others still run; exit 1 if any file failed. `--received-at` says when a saved body
was received (what Twilio's inbound windows and the future-time clamp are timed by; default now).

`contato-bot webhook replay --delivery ID...`: stored deliveries (parked ones included, after the
cause is fixed) through ingestion again, timed by their own receipt time."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from bot.bsp.base import WebhookShapeError
from bot.cli.common import UsageError, at_or_fail, channel_or_fail, open_runtime
from bot.core.conversation import claim_new_replies
from bot.core.ingest import ingest_events
from bot.core.webhooks import MAX_BODY_BYTES, parse_body, process_deliveries
from bot.runtime import Runtime
from bot.store import deliveries


def add_parser(sub: argparse._SubParsersAction) -> None:
    webhook = sub.add_parser("webhook", help="webhook tools")
    webhook_sub = webhook.add_subparsers(dest="webhook_command", required=True)
    replay = webhook_sub.add_parser("replay", help="feed saved webhook payloads through ingestion")
    replay.add_argument("channel", nargs="?")
    replay.add_argument("files", nargs="*")
    replay.add_argument(
        "--delivery", type=int, action="append", default=[], help="a stored delivery id (repeatable)"
    )
    replay.add_argument("--received-at", help="ISO 8601 receipt time of the saved bodies (default: now)")
    replay.set_defaults(command_label="webhook replay")


def run(args: argparse.Namespace, config_path: str) -> int:
    if not args.delivery and not (args.channel and args.files):
        raise UsageError("give a channel and files, or --delivery ID.")
    with open_runtime(config_path) as rt:
        failed = [str(i) for i in args.delivery if not _replay_delivery(rt, i)]
        if args.channel:
            channel = channel_or_fail(rt, args.channel)
            received_at = at_or_fail(args.received_at, rt.now())
            failed += [name for name in args.files if not _replay_file(rt, channel.id, name, received_at)]
    return 1 if failed else 0


def _replay_delivery(rt: Runtime, delivery_id: int) -> bool:
    """Applies one stored delivery again; False (with a sentence) when it is unknown or still fails."""
    with rt.store.session() as session:
        row = deliveries.delivery_state(session, delivery_id)
        known, done = row is not None, row is not None and row.processed_at is not None
    if not known:
        return _refuse(f"delivery {delivery_id}: not stored.")
    if done:
        print(json.dumps({"delivery": delivery_id, "changes": None, "already_processed": True}))
        return True
    processed = process_deliveries(rt, [delivery_id], parked=True)
    with rt.store.session() as session:
        row = deliveries.delivery_state(session, delivery_id)
        applied, error = (row.processed_at is not None, row.error) if row is not None else (False, None)
    if not applied:
        return _refuse(f"delivery {delivery_id}: still fails ({error}).")
    changes = processed[0][1].to_dict() if processed else None
    print(json.dumps({"delivery": delivery_id, "changes": changes}, ensure_ascii=False, default=str))
    return True


def _replay_file(rt: Runtime, channel_id: str, name: str, received_at: datetime) -> bool:
    """Replays one file; False (with a sentence on stderr) when it could not be applied."""
    try:
        raw = Path(name).read_bytes()
    except OSError as exc:
        return _refuse(f"{name}: cannot be read ({exc.strerror or exc}).")
    if len(raw) > MAX_BODY_BYTES:
        return _refuse(f"{name}: larger than {MAX_BODY_BYTES} bytes, the webhook limit; skipped.")
    try:
        events = parse_body(rt, channel_id, raw, received_at)
    except WebhookShapeError as exc:
        return _refuse(f"{name}: not a webhook this channel's BSP sends: at {exc.path}, {exc.problem}.")
    except (ValueError, RecursionError):
        return _refuse(f"{name}: not valid JSON.")
    report = ingest_events(
        rt.store, channel_id, events, rt.now(), longest_alert_lead=rt.config.longest_alert_lead
    )
    claim_new_replies(rt, channel_id, report.new_inbound, rt.now())  # a running serve posts them
    print(json.dumps({"file": name, "changes": report.to_dict()}, ensure_ascii=False, default=str))
    return True


def _refuse(sentence: str) -> bool:
    print(sentence, file=sys.stderr)
    return False
