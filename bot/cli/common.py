"""What every `contato-bot` command shares: opening the runtime, finding the channel, reading
`--at`, a category or a phone, and saying "no" in one sentence with exit code 2.

A command raises `UsageError(sentence)` (exit 2) or `CommandFailed(sentence)` (exit 1);
`bot.cli.main` prints it as `contato-bot <command>: <sentence>`, so no command writes that
preamble itself."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.rules import phones
from bot.rules.events import Category

if TYPE_CHECKING:
    from bot.config import ChannelConfig
    from bot.runtime import Runtime

EXAMPLE_TIME = "2026-11-24T19:00:00Z"


class UsageError(Exception):
    """Bad input on the command line: one sentence for stderr, exit code 2."""


class CommandFailed(Exception):
    """The input was fine but the work could not be done (a BSP refused, a file was bad): one
    sentence for stderr, exit code 1."""


@contextmanager
def open_runtime(config_path: str) -> Iterator[Runtime]:
    """The app's runtime for one command; its database connections are closed afterwards."""
    from bot.runtime import build_runtime

    rt = build_runtime(config_path)
    try:
        yield rt
    finally:
        rt.store.dispose()


def channel_or_fail(rt: Runtime, channel_id: str) -> ChannelConfig:
    """The configured channel, or a UsageError naming the channels there are."""
    channel = rt.config.channel(channel_id)
    if channel is None:
        known = ", ".join(c.id for c in rt.config.channels) or "none"
        raise UsageError(f"no channel {channel_id!r} in the config (channels: {known}).")
    return channel


def parse_at(value: str | None, now: datetime) -> datetime:
    """`--at` as an aware UTC datetime (no zone = UTC; `Z` accepted); `now` when absent.
    Raises ValueError for anything else."""
    if value is None or not value.strip():
        return now
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def at_or_fail(value: str | None, now: datetime) -> datetime:
    """`parse_at`, with a UsageError showing the expected form."""
    try:
        return parse_at(value, now)
    except ValueError:
        raise UsageError(f"--at {value!r} is not an ISO 8601 time (e.g. {EXAMPLE_TIME}).") from None


def category_or_fail(value: str | None) -> Category | None:
    """`--category` as a Category (any case), None when absent."""
    if not value:
        return None
    try:
        return Category(value.lower())
    except ValueError:
        raise UsageError(
            f"unknown category {value!r} (use one of {', '.join(c.value for c in Category)})."
        ) from None


def phone_or_fail(value: str) -> str:
    """A phone number in any format, as E.164."""
    try:
        return phones.normalize_phone(value)
    except phones.InvalidPhone as exc:
        raise UsageError(f"{value!r} is not a phone number ({exc.reason}).") from None


def add_metrics_arguments(parser: argparse.ArgumentParser) -> None:
    """`--metrics-port` / `--metrics-host` (serve, worker): /metrics on a port of its own."""
    from bot.cli.serve import port_number

    parser.add_argument(
        "--metrics-port",
        type=port_number,
        default=os.environ.get("METRICS_PORT") or None,
        help="serve GET /metrics on this port (default: $METRICS_PORT; none)",
    )
    parser.add_argument(
        "--metrics-host", default="127.0.0.1", help="where --metrics-port listens (default: 127.0.0.1)"
    )


def metrics_address(args: argparse.Namespace) -> tuple[str, int] | None:
    """(host, port) of `add_metrics_arguments`' options, or None when no port was asked for."""
    return (args.metrics_host, args.metrics_port) if args.metrics_port else None
