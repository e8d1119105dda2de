"""`contato-bot alerts [--pending | --failed] [--json] [--limit N]`: the expiry alerts and why
each was or was not posted, without SQL. A `not_in_channel` failure says which channel to invite
the app to."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bot.cli.common import open_runtime
from bot.i18n import Catalog
from bot.rules.phones import mask_phone, wa_id_to_e164
from bot.store.alert_claims import ClaimRow


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("alerts", help="expiry alerts and why each was (not) posted")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--pending", action="store_true", help="only those not posted yet")
    which.add_argument("--failed", action="store_true", help="only those Slack refused, expired or given up")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--limit", type=int, default=200, help="newest N (default 200)")


def _time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"


def why(row: ClaimRow, catalog: Catalog) -> str:
    """One sentence: what happened to this alert and, when it failed, what to do."""
    error = row.last_error or ""
    expires = _time(row.expires_at)
    if row.outcome == "posted":
        return catalog.t("ops.alert.posted", at=_time(row.posted_at))
    if row.outcome == "superseded":
        return catalog.t("ops.alert.superseded")
    if row.outcome == "expired":
        return catalog.t("ops.alert.expired", expires=expires)
    advice = ""
    if error == "not_in_channel":
        advice = catalog.t("ops.alert.not_in_channel", channel=row.slack_channel)
    elif error == "channel_not_found":
        advice = catalog.t("ops.alert.channel_not_found", channel=row.slack_channel)
    if row.outcome == "given_up":
        return catalog.t("ops.alert.given_up", attempts=row.attempts, error=advice or error)
    if row.attempts:
        sentence = catalog.t(
            "ops.alert.retrying", error=error, attempts=row.attempts, next=_time(row.next_attempt_at)
        )
        return f"{sentence}; {advice}" if advice else sentence
    return catalog.t("ops.alert.waiting", expires=expires)


def run(args: argparse.Namespace, config_path: str) -> int:
    from bot.store import alert_claims, contacts

    with open_runtime(config_path) as rt:
        catalog = rt.catalog
        with rt.store.session() as session:
            rows = alert_claims.list_claims(
                session, pending=args.pending, failed=args.failed, limit=max(1, args.limit)
            )
            people = contacts.contacts_by_id(session, {row.contact_id for row in rows})
            phones = {cid: _masked(c.e164, c.wa_id) for cid, c in people.items()}
    if not rows and not args.json:
        print(catalog.t("ops.none.alerts"))
    for row in rows:
        contact = phones.get(row.contact_id, "-")
        reason = why(row, catalog)
        if args.json:
            print(
                json.dumps(
                    {
                        "id": row.id,
                        "channel": row.channel_id,
                        "contact": contact,
                        "window": row.kind,
                        "expires_at": row.expires_at.isoformat(),
                        "slack_channel": row.slack_channel,
                        "state": row.outcome or "pending",
                        "attempts": row.attempts,
                        "last_error": row.last_error,
                        "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
                        "why": reason,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            print(
                f"#{row.id}  {row.channel_id}  {contact}  {row.kind}  {_time(row.expires_at)}  "
                f"{row.slack_channel}  {row.outcome or 'pending'}: {reason}"
            )
    return 0


def _masked(e164: str | None, wa_id: str | None) -> str:
    """The contact's number, masked as in the logs (the listing may be pasted into a ticket)."""
    if e164:
        return mask_phone(e164)
    if wa_id:
        try:
            return mask_phone(wa_id_to_e164(wa_id))
        except Exception:  # a BSUID: no number to show
            return "-"
    return "-"
