"""`contato-bot`: thin command line over the same functions the app uses.

Exit codes: 0 ok, 1 a problem found (check) or a runtime failure, 2 bad usage or input.
Every failure is one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="contato-bot",
        description="Contato Ativo for Slack: outbound WhatsApp conversations from Slack.",
    )
    parser.add_argument("--config", help="config file (default: $CONTATO_CONFIG or ./contato.yml)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("check", help="validate the config file and the environment")

    serve = sub.add_parser("serve", help="run the Slack app, the webhooks and the alert scheduler")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    serve.add_argument("--socket-mode", action="store_true", help="talk to Slack over Socket Mode")

    sub.add_parser("migrate", help="apply the database migrations and exit")

    sessions = sub.add_parser("sessions", help="what the screen's cards show for a contact")
    sessions.add_argument("channel")
    sessions.add_argument("contact", help="phone number in any format")
    sessions.add_argument("--at", help="ISO 8601 time (default: now)")
    sessions.add_argument("--json", action="store_true", dest="as_json")

    preview = sub.add_parser("preview", help="print the modal's Block Kit JSON")
    preview.add_argument("channel")
    preview.add_argument("contact")
    preview.add_argument("--team")
    preview.add_argument("--category")
    preview.add_argument("--template", help="name or name:language")
    preview.add_argument("--at", help="ISO 8601 time (default: now)")

    templates = sub.add_parser("templates", help="the channel's templates from its BSP")
    templates.add_argument("channel")
    templates.add_argument("--category")
    templates.add_argument("--json", action="store_true", dest="as_json")

    webhook = sub.add_parser("webhook", help="webhook tools")
    webhook_sub = webhook.add_subparsers(dest="webhook_command", required=True)
    replay = webhook_sub.add_parser("replay", help="feed saved webhook payloads through ingestion")
    replay.add_argument("channel")
    replay.add_argument("files", nargs="+")

    sandbox = sub.add_parser("sandbox", help="the built-in sandbox BSP")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    inbound = sandbox_sub.add_parser("inbound", help="make a customer write on a sandbox channel")
    inbound.add_argument("channel")
    inbound.add_argument("phone")
    inbound.add_argument("text")
    inbound.add_argument("--ctwa", action="store_true", help="the message comes from a Click-to-WhatsApp ad")
    inbound.add_argument("--at", help="ISO 8601 time of the message (default: now)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic narrates every start at INFO; the operator only needs to hear when it fails.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    config_path = args.config or os.environ.get("CONTATO_CONFIG") or "contato.yml"
    try:
        return _dispatch(args, config_path)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last net: one sentence, the details in the log
        from bot.config import ConfigError

        if isinstance(exc, ConfigError):
            print(f"contato-bot: the configuration has problems ({config_path}):", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            print("Run 'contato-bot check' for the full report.", file=sys.stderr)
            return 2
        logging.getLogger("bot.cli").debug("command failed", exc_info=True)
        print(f"contato-bot: {args.command} failed: {exc}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace, config_path: str) -> int:
    if args.command == "check":
        from bot.cli.check import run_check

        return run_check(config_path)
    if args.command == "serve":
        from bot.serve import run_serve

        return run_serve(config_path, host=args.host, port=args.port, socket_mode=args.socket_mode)
    if args.command == "migrate":
        from bot.runtime import build_runtime

        build_runtime(config_path)
        print(json.dumps({"migrated": True}))
        return 0
    if args.command == "sessions":
        from bot.core.windows_report import cli_sessions

        return cli_sessions(config_path, args.channel, args.contact, args.at, args.as_json)
    if args.command == "preview":
        from bot.core.screen import cli_preview

        return cli_preview(
            config_path,
            args.channel,
            args.contact,
            team=args.team,
            category=args.category,
            template=args.template,
            at=args.at,
        )
    if args.command == "templates":
        from bot.cli.templates import cli_templates

        return cli_templates(config_path, args.channel, args.category, args.as_json)
    if args.command == "webhook":
        from bot.core.webhooks import cli_replay

        return cli_replay(config_path, args.channel, args.files)
    if args.command == "sandbox":
        from bot.cli.sandbox import cli_sandbox_inbound

        return cli_sandbox_inbound(config_path, args.channel, args.phone, args.text, args.ctwa, args.at)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
