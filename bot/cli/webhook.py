"""`contato-bot webhook replay CHANNEL FILE...`: saved payloads through the same parsing and
ingestion as the endpoint (no authentication), printing what each file changed. A bad file gets a
sentence and the others still run; exit 1 if any file failed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.bsp.base import WebhookShapeError
from bot.cli.common import channel_or_fail, open_runtime
from bot.core.conversation import claim_new_replies
from bot.core.ingest import ingest_events
from bot.core.webhooks import MAX_BODY_BYTES, parse_body
from bot.runtime import Runtime


def add_parser(sub: argparse._SubParsersAction) -> None:
    webhook = sub.add_parser("webhook", help="webhook tools")
    webhook_sub = webhook.add_subparsers(dest="webhook_command", required=True)
    replay = webhook_sub.add_parser("replay", help="feed saved webhook payloads through ingestion")
    replay.add_argument("channel")
    replay.add_argument("files", nargs="+")
    replay.set_defaults(command_label="webhook replay")


def run(args: argparse.Namespace, config_path: str) -> int:
    with open_runtime(config_path) as rt:
        channel = channel_or_fail(rt, args.channel)
        failed = [name for name in args.files if not _replay_file(rt, channel.id, name)]
    return 1 if failed else 0


def _replay_file(rt: Runtime, channel_id: str, name: str) -> bool:
    """Replays one file; False (with a sentence on stderr) when it could not be applied."""
    try:
        raw = Path(name).read_bytes()
    except OSError as exc:
        return _refuse(f"{name}: cannot be read ({exc.strerror or exc}).")
    if len(raw) > MAX_BODY_BYTES:
        return _refuse(f"{name}: larger than {MAX_BODY_BYTES} bytes, the webhook limit; skipped.")
    try:
        events = parse_body(rt, channel_id, raw)
    except WebhookShapeError as exc:
        return _refuse(f"{name}: not a webhook this channel's BSP sends: at {exc.path}, {exc.problem}.")
    except (ValueError, RecursionError):
        return _refuse(f"{name}: not valid JSON.")
    report = ingest_events(rt.store, channel_id, events, rt.now())
    claim_new_replies(rt, channel_id, report.new_inbound, rt.now())  # a running serve posts them
    print(json.dumps({"file": name, "changes": report.to_dict()}, ensure_ascii=False, default=str))
    return True


def _refuse(sentence: str) -> bool:
    print(sentence, file=sys.stderr)
    return False
