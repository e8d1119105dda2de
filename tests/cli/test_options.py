"""Command-line options as an operator types them (issue 12): `serve --port` checked like any
other input, `--config` before or after the command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).parents[2]


@pytest.fixture
def example(tmp_path: Path) -> str:
    """contato.example.yml in a temporary folder (its SQLite file goes beside it)."""
    return str(shutil.copy(ROOT / "contato.example.yml", tmp_path / "contato.yml"))


@pytest.fixture
def slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-options-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "options-test-secret")
    for name in ("DATABASE_URL", "CONTATO_CONFIG", "LOG_FORMAT", "LOG_LEVEL", "PORT"):
        monkeypatch.delenv(name, raising=False)


def example_check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_serve_refuses_a_port_out_of_range_in_one_sentence(
    slack_env: None, example: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", example, "serve", "--port", "99999"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "99999 is out of range (valid ports: 1-65535)" in err
    assert err.startswith("contato-bot serve: argument --port:")

    with pytest.raises(SystemExit) as exit_info:
        main(["--config", example, "serve", "--port", "http"])
    assert exit_info.value.code == 2 and "'http' is not a port number" in capsys.readouterr().err

    # $PORT goes through the same check, and only serve reads it.
    monkeypatch.setenv("PORT", "70000")
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", example, "serve"])
    assert exit_info.value.code == 2 and "70000 is out of range" in capsys.readouterr().err
    code, _, _ = example_check(capsys, "--config", example, "check")
    assert code == 0


def test_config_before_or_after_the_subcommand(
    slack_env: None, example: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, before, _ = example_check(capsys, "--config", example, "check")
    assert code == 0
    code, after, _ = example_check(capsys, "check", "--config", example)
    assert code == 0 and after == before
    # After wins over before; a missing file is named whichever position it came from.
    missing = str(tmp_path / "missing.yml")
    code, out, err = example_check(capsys, "--config", example, "check", "--config", missing)
    assert code == 1 and "missing.yml: the config file does not exist" in out + err
    code, out, err = example_check(capsys, "--config", missing, "check", "--config", example)
    assert code == 0
    # Every command takes it, nested ones (sandbox inbound) too.
    code, _, err = example_check(
        capsys, "sandbox", "inbound", "sandbox", "+55 11 98888-7777", "Oi", "--config", example
    )
    assert code == 0, err
    code, out, err = example_check(
        capsys, "sessions", "sandbox", "+55 11 98888-7777", "--json", "--config", example
    )
    assert code == 0, err
    assert json.loads(out)["customer_care"]["open"] is True
    assert (tmp_path / "contato.db").exists()  # beside the config given after the command
