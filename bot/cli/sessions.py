"""`contato-bot sessions CHANNEL CONTACT [--at] [--json]`: what the screen's cards would show."""

from __future__ import annotations

import argparse
import json

from bot.cli.common import at_or_fail, channel_or_fail, open_runtime, phone_or_fail
from bot.core.windows_report import SessionsReport, sessions_report
from bot.rules.bsuid import is_bsuid


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sessions", help="what the screen's cards show for a contact")
    parser.add_argument("channel")
    parser.add_argument("contact", help="phone number in any format, or a BSUID (BR.1234...)")
    parser.add_argument("--at", help="ISO 8601 time (default: now)")
    parser.add_argument("--json", action="store_true", dest="as_json")


def run(args: argparse.Namespace, config_path: str) -> int:
    with open_runtime(config_path) as rt:
        channel = channel_or_fail(rt, args.channel)
        # A phone number in any format, or a username-only customer's BSUID ("BR.1234...").
        e164 = args.contact.strip() if is_bsuid(args.contact) else phone_or_fail(args.contact)
        # Whole seconds when asked about "now": the contract's times read like its example.
        at = at_or_fail(args.at, rt.now().replace(microsecond=0))
        provider = rt.provider(channel.id)
        report = sessions_report(rt.store, channel, provider.session_data, e164, at, rt.rules)
    print(json.dumps(report.to_json(), ensure_ascii=False) if args.as_json else format_text(report))
    return 0


def format_text(report: SessionsReport) -> str:
    """A readable table of the same facts as `to_json()`."""
    data = report.to_json()
    lines = [
        f"channel {data['channel']}  contact {data['contact']}  at {data['at']}  "
        f"pricing {data['pricing_model']}"
        + ("" if data["sessions_supported"] else "  (no session data: templates only)"),
    ]
    care, ctwa = data["customer_care"], data["ctwa"]
    lines.append(f"{'window':<16} {'open':<5} {'expires_at':<21} {'remaining':>9}")
    lines.append(_row("customer_care", care["open"], care["expires_at"], care["remaining_seconds"]))
    ctwa_line = _row("ctwa", ctwa["open"], ctwa["expires_at"], ctwa["remaining_seconds"])
    if ctwa["pending_until"]:
        ctwa_line += f"  ad lead waiting: reply before {ctwa['pending_until']}"
    lines.append(ctwa_line)
    lines.append(f"free text allowed: {'yes' if data['free_text_allowed'] else 'no'}")
    lines.append(f"{'category':<16} {'open':<5} {'expires_at':<21} {'remaining':>9}  charge")
    for name, card in data["categories"].items():
        price = f" {card['price']} {card['currency']}" if card["price"] is not None else ""
        lines.append(
            _row(name, card["open"], card["expires_at"], card["remaining_seconds"])
            + f"  {card['charge']}{price}"
        )
    return "\n".join(lines)


def _row(name: str, is_open: bool, expires_at: str | None, remaining: int) -> str:
    hours, rest = divmod(remaining, 3600)
    left = f"{hours}h{rest // 60:02d}m" if remaining else "-"
    return f"{name:<16} {'yes' if is_open else 'no':<5} {expires_at or '-':<21} {left:>9}"
