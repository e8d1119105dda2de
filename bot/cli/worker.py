"""`contato-bot worker [--batch N] [--poll-seconds S] [--once] [--metrics-port P]`: ingest the
webhook deliveries `serve` stored, in a process of its own (bot.worker runs it)."""

from __future__ import annotations

import argparse

from bot.cli.common import add_metrics_arguments, metrics_address


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not at least 1")
    return number


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{value} is out of range (more than 0, at most 3600 seconds)")
    return seconds


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("worker", help="ingest stored webhook deliveries (several on PostgreSQL)")
    parser.add_argument(
        "--batch",
        type=_positive_int,
        default=None,
        help="deliveries per transaction (default: 32 on SQLite, where a batch holds the one write "
        "lock the webhook endpoint also needs; 64 on PostgreSQL)",
    )
    parser.add_argument(
        "--poll-seconds", type=_seconds, default=0.2, help="pause when nothing is due (default: 0.2)"
    )
    parser.add_argument(
        "--once", action="store_true", help="drain what is due, print a JSON summary and exit"
    )
    add_metrics_arguments(parser)


def run(args: argparse.Namespace, config_path: str) -> int:
    from bot.worker import run_worker

    return run_worker(
        config_path,
        batch=args.batch,
        poll_seconds=args.poll_seconds,
        once=args.once,
        metrics=metrics_address(args),
    )
