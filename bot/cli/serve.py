"""`contato-bot serve [--host] [--port] [--socket-mode]`: the Slack app, the webhooks and the
alert scheduler in one process (bot.serve starts them)."""

from __future__ import annotations

import argparse
import os


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="run the Slack app, the webhooks and the alert scheduler")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--socket-mode", action="store_true", help="talk to Slack over Socket Mode")


def run(args: argparse.Namespace, config_path: str) -> int:
    from bot.serve import run_serve  # uvicorn and Bolt load only for this command

    return run_serve(config_path, host=args.host, port=args.port, socket_mode=args.socket_mode)
