"""Contato Ativo for Slack.

The version lives in one place, pyproject.toml's `[project] version`; the installed distribution's
metadata carries it here (a source tree that was never installed says `0+unknown`)."""

from importlib import metadata

DISTRIBUTION = "contato-ativo-slack"

try:
    __version__ = metadata.version(DISTRIBUTION)
except metadata.PackageNotFoundError:  # pragma: no cover - running from an uninstalled checkout
    __version__ = "0+unknown"
