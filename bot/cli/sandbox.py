"""`contato-bot sandbox inbound CHANNEL PHONE TEXT [--ctwa] [--at]`: a customer writes on a
sandbox channel. The message is a Meta webhook body that goes through the channel's decoding and
parsing (`core.webhooks.parse_body`) and `core.ingest.ingest_events`, as a webhook's would."""

from __future__ import annotations

import json
import sys

from bot.bsp.sandbox.samples import inbound_payload
from bot.core.ingest import ingest_events
from bot.core.webhooks import parse_body
from bot.core.windows_report import parse_at, sessions_report
from bot.rules import phones
from bot.runtime import build_runtime


def _fail(message: str) -> int:
    print(f"contato-bot sandbox inbound: {message}", file=sys.stderr)
    return 2


def cli_sandbox_inbound(
    config_path: str, channel: str, phone: str, text: str, ctwa: bool, at: str | None
) -> int:
    """Prints the ingestion report and the contact's windows as JSON (exit 0), or a sentence (2)."""
    rt = build_runtime(config_path)
    try:
        config = rt.config.channel(channel)
        if config is None or config.bsp != "sandbox":
            sandboxes = ", ".join(c.id for c in rt.config.channels if c.bsp == "sandbox") or "none"
            what = "is not a sandbox channel" if config is not None else "is not in the config"
            return _fail(f"channel {channel!r} {what} (sandbox channels: {sandboxes}).")
        try:
            e164 = phones.normalize_phone(phone)
        except phones.InvalidPhone as exc:
            return _fail(f"{phone!r} is not a phone number ({exc.reason}).")
        now = rt.now()
        try:
            when = parse_at(at, now)
        except ValueError:
            return _fail(f"--at {at!r} is not an ISO 8601 time (e.g. 2026-11-24T19:00:00Z).")
        payload = inbound_payload(config.number, e164.removeprefix("+"), text, when, ctwa=ctwa)
        events = parse_body(rt, channel, json.dumps(payload).encode())
        report = ingest_events(rt.store, channel, events, now)
        shown_at = max(now, when.replace(microsecond=0))
        session_data = rt.provider(channel).session_data
        sessions = sessions_report(rt.store, config, session_data, e164, shown_at, rt.rules)
        print(json.dumps({"changes": report.to_dict(), "sessions": sessions.to_json()}, ensure_ascii=False))
        return 0
    finally:
        rt.store.dispose()
