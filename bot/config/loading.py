"""`load_config`: read, validate and cross-check contato.yml, every problem located; and the
`*_env` names whose variables are unset (`env_problems`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from bot.bsp.channel import Loc, loc_text
from bot.config.checks import app_rules, channel_rules, items
from bot.config.fields import EXAMPLE_FILE
from bot.config.locator import ConfigError, Locator, compose, duplicate_keys
from bot.config.models import AppConfig
from bot.config.sentences import located


def load_config(path: str | Path) -> AppConfig:
    """Read and validate contato.yml. Raises `ConfigError` listing every problem, each located."""
    source = str(path)
    file = Path(path)
    if not file.exists():
        raise ConfigError(
            [
                f"{source}: the config file does not exist; copy {EXAMPLE_FILE} to {source} and edit it "
                "(or point --config / CONTATO_CONFIG at your file)"
            ]
        )
    if file.is_dir():
        raise ConfigError([f"{source}: is a directory, not a config file"])
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{source}: cannot be read ({getattr(exc, 'strerror', None) or exc})"]) from None
    node, data = compose(text, source)
    if data is None:
        raise ConfigError(
            [f"{source}: the config file is empty; start from {EXAMPLE_FILE} (it documents every key)"]
        )
    locator = Locator(source, node)
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{locator.where(())}: the file must be a mapping of keys (language, teams, channels, ...)"]
        )

    found: list[tuple[int, str]] = []

    def add(loc: Loc, message: str, line: int | None = None) -> None:
        line = line if line is not None else locator.line(loc)
        found.append((line or 0, locator.problem(loc, message)))

    if node is not None:
        duplicates: list[tuple[Loc, str, int]] = []
        duplicate_keys(node, (), duplicates)
        for loc, message, line in duplicates:
            path_text = loc_text(loc)
            found.append((line, f"{source}:{line}: {path_text}: {message}"))

    config: AppConfig | None = None
    try:
        config = AppConfig.model_validate(data, context={"located_checks": True})
    except ValidationError as exc:
        for error in exc.errors():
            add(*located(error))
    for loc, message in app_rules(data, locator.line):
        add(loc, message)
    for i, channel in items(data, "channels"):
        for rel, message in channel_rules(channel):
            add(("channels", i, *rel), message)

    if found or config is None:
        # Sorted by line, each once: the order an admin fixes them in.
        ordered = sorted(dict.fromkeys(found), key=lambda item: item[0])
        raise ConfigError([problem for _, problem in ordered] or [f"{source}: invalid configuration"])
    config._locator = locator
    return config


def env_problems(
    config: AppConfig, environ: Mapping[str, str] | None = None, path: str | Path | None = None
) -> list[str]:
    """Every `*_env` the channels reference whose environment variable is unset or empty.

    Not raised by `load_config`: the app starts, and only that channel fails when used.
    """
    environ = os.environ if environ is None else environ
    locator = config._locator
    if locator is None:
        locator = Locator(str(path) if path is not None else "contato.yml", None)
        if path is not None:
            with contextlib.suppress(OSError, UnicodeDecodeError, ConfigError):
                locator = Locator(str(path), compose(Path(path).read_text(encoding="utf-8"), str(path))[0])
    problems: list[tuple[int, str]] = []
    for i, channel in enumerate(config.channels):
        for field_name in channel.env_fields():
            env_name = getattr(channel, field_name)
            value = environ.get(env_name)
            if value is None:
                state = "is not set"
            elif not value.strip():
                state = "is empty"
            else:
                continue
            loc: Loc = ("channels", i, field_name)
            problem = locator.problem(loc, f"environment variable {env_name} {state}")
            problems.append((locator.line(loc) or 0, problem))
    return [problem for _, problem in sorted(problems, key=lambda item: item[0])]
