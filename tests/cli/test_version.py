"""One version, in pyproject.toml: `contato-bot --version` and `bot.__version__` say the installed
distribution's."""

from __future__ import annotations

from importlib import metadata

import pytest

import bot
from bot.cli import main


def test_version_flag_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out == f"contato-bot {metadata.version('contato-ativo-slack')}\n"


def test_package_version_is_the_distributions() -> None:
    assert bot.__version__ == metadata.version(bot.DISTRIBUTION)
