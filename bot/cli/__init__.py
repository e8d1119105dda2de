"""`contato-bot`: thin command line over the same functions the app uses.

One module per command, each with `add_parser(sub)` and `run(args, config_path) -> int`; what they
share (open the runtime, find the channel, read `--at`) is in `bot.cli.common`.

Exit codes: 0 ok, 1 a problem found (check) or a runtime failure, 2 bad usage or input.
Every failure is one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import NoReturn

from bot import __version__
from bot.cli import (
    alerts,
    check,
    migrate,
    preview,
    prune,
    sandbox,
    serve,
    sessions,
    templates,
    webhook,
    webhooks,
    worker,
)
from bot.cli.common import CommandFailed, UsageError
from bot.logs import LogSettingsError, setup_logging

Runner = Callable[[argparse.Namespace, str], int]


# The commands in the order `--help` lists them; each module adds its parser and runs it.
COMMAND_MODULES: tuple[ModuleType, ...] = (
    check,
    serve,
    worker,
    migrate,
    sessions,
    preview,
    templates,
    webhook,
    sandbox,
    prune,
    alerts,
    webhooks,
)
COMMANDS: dict[str, tuple[Callable[[argparse._SubParsersAction], None], Runner]] = {
    m.__name__.rsplit(".", 1)[1]: (m.add_parser, m.run) for m in COMMAND_MODULES
}


class _Parser(argparse.ArgumentParser):
    """argparse, with its refusals as one line (usage is one `--help` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message.rstrip('.')}; '{self.prog} --help' shows the usage.\n")


CONFIG_HELP = "config file (default: $CONTATO_CONFIG or ./contato.yml)"


def _add_config_everywhere(parser: argparse.ArgumentParser) -> None:
    """`--config` after the subcommand too (`contato-bot check --config x`): every subcommand
    accepts it, and leaves the top-level value alone when not given (SUPPRESS)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in dict.fromkeys(action.choices.values()):
                subparser.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
                _add_config_everywhere(subparser)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="contato-bot",
        description="Contato Ativo for Slack: outbound WhatsApp conversations from Slack.",
    )
    parser.add_argument("--version", action="version", version=f"contato-bot {__version__}")
    parser.add_argument("--config", help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    for add_parser, _run in COMMANDS.values():
        add_parser(sub)
    _add_config_everywhere(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        setup_logging()  # LOG_LEVEL, LOG_FORMAT; Alembic and APScheduler only when they warn
    except LogSettingsError as exc:
        print(f"contato-bot: {exc}", file=sys.stderr)
        return 1
    config_path = args.config or os.environ.get("CONTATO_CONFIG") or "contato.yml"
    run = COMMANDS[args.command][1]
    label = getattr(args, "command_label", args.command)  # "webhook replay", not just "webhook"
    try:
        return run(args, config_path)
    except UsageError as exc:
        print(f"contato-bot {label}: {exc}", file=sys.stderr)
        return 2
    except CommandFailed as exc:
        print(f"contato-bot {label}: {exc}", file=sys.stderr)
        return 1
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


if __name__ == "__main__":
    sys.exit(main())
