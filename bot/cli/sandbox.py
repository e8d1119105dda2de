"""`contato-bot sandbox inbound CHANNEL PHONE TEXT [--ctwa] [--at]`: a customer writes on a
sandbox channel. The message is a Meta webhook body that goes through the channel's decoding and
parsing (`core.webhooks.parse_body`) and `core.ingest.ingest_events`, as a webhook's would."""

from __future__ import annotations

import argparse
import json

from bot.bsp.sandbox.samples import inbound_payload
from bot.cli.common import UsageError, at_or_fail, open_runtime, phone_or_fail
from bot.core.conversation import claim_new_replies
from bot.core.ingest import ingest_events
from bot.core.webhooks import parse_body
from bot.core.windows_report import sessions_report


def add_parser(sub: argparse._SubParsersAction) -> None:
    sandbox = sub.add_parser("sandbox", help="the built-in sandbox BSP")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    inbound = sandbox_sub.add_parser("inbound", help="make a customer write on a sandbox channel")
    inbound.add_argument("channel")
    inbound.add_argument("phone")
    inbound.add_argument("text")
    inbound.add_argument("--ctwa", action="store_true", help="the message comes from a Click-to-WhatsApp ad")
    inbound.add_argument("--at", help="ISO 8601 time of the message (default: now)")
    inbound.set_defaults(command_label="sandbox inbound")


def run(args: argparse.Namespace, config_path: str) -> int:
    """Prints the ingestion report and the contact's windows as JSON."""
    with open_runtime(config_path) as rt:
        config = rt.config.channel(args.channel)
        if config is None or config.bsp != "sandbox":
            sandboxes = ", ".join(c.id for c in rt.config.channels if c.bsp == "sandbox") or "none"
            what = "is not a sandbox channel" if config is not None else "is not in the config"
            raise UsageError(f"channel {args.channel!r} {what} (sandbox channels: {sandboxes}).")
        e164 = phone_or_fail(args.phone)
        now = rt.now()
        when = at_or_fail(args.at, now)
        payload = inbound_payload(config.number, e164.removeprefix("+"), args.text, when, ctwa=args.ctwa)
        # A simulated message is received when it is said to be sent (a future --at included).
        events = parse_body(rt, config.id, json.dumps(payload).encode(), max(now, when))
        report = ingest_events(
            rt.store, config.id, events, now, longest_alert_lead=rt.config.longest_alert_lead
        )
        claim_new_replies(rt, config.id, report.new_inbound, now)  # a running serve posts them
        shown_at = max(now, when.replace(microsecond=0))
        session_data = rt.provider(config.id).session_data
        sessions = sessions_report(rt.store, config, session_data, e164, shown_at, rt.rules)
    print(json.dumps({"changes": report.to_dict(), "sessions": sessions.to_json()}, ensure_ascii=False))
    return 0
