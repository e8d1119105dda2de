"""`contato-bot serve [--host] [--port] [--socket-mode] [--metrics-port] [--ingest in-process|off]`:
the Slack app, the webhooks and the alert scheduler in one process (bot.serve starts them)."""

from __future__ import annotations

import argparse
import os

from bot.cli.common import add_metrics_arguments, metrics_address


def port_number(value: str) -> int:
    """A TCP port, 1-65535 (uvicorn would take 99999 and listen on a random port)."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (valid ports: 1-65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is out of range (valid ports: 1-65535)")
    return port


INGEST_MODES = ("in-process", "off")


def ingest_mode(value: str) -> str:
    """`in-process` or `off` (from --ingest or $CONTATO_INGEST)."""
    if value not in INGEST_MODES:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ingest mode (in-process or off)")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="run the Slack app, the webhooks and the alert scheduler")
    parser.add_argument("--host", default="0.0.0.0")
    # A string default goes through `type` too, so a bad $PORT is refused like a bad --port, and
    # only by `serve`.
    parser.add_argument(
        "--port", type=port_number, default=os.environ.get("PORT") or "3000", help="default: $PORT or 3000"
    )
    parser.add_argument("--socket-mode", action="store_true", help="talk to Slack over Socket Mode")
    add_metrics_arguments(parser)
    parser.add_argument(
        "--ingest",
        type=ingest_mode,
        default=os.environ.get("CONTATO_INGEST") or "in-process",
        help="in-process: this process also ingests the webhooks it stores; off: only store them, "
        "for `contato-bot worker` processes (default: $CONTATO_INGEST or in-process)",
    )


def run(args: argparse.Namespace, config_path: str) -> int:
    from bot.serve import run_serve  # uvicorn and Bolt load only for this command

    return run_serve(
        config_path,
        host=args.host,
        port=args.port,
        socket_mode=args.socket_mode,
        metrics=metrics_address(args),
        ingest=args.ingest == "in-process",
    )
