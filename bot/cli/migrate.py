"""`contato-bot migrate`: apply the database migrations (Alembic, to head) and exit."""

from __future__ import annotations

import argparse
import json

from bot.cli.common import open_runtime


def add_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("migrate", help="apply the database migrations and exit")


def run(args: argparse.Namespace, config_path: str) -> int:
    with open_runtime(config_path):  # building the runtime migrates the database
        pass
    print(json.dumps({"migrated": True}))
    return 0
