"""`contato-bot check` through bot.cli.main: exit codes and what the admin reads."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "contato.example.yml"

VENDAS = """\
teams:
  - id: vendas
    name: Vendas
    usergroup: SVENDAS
    alert_channel: C0SUPERVIS
    alert_lead_minutes: 30
    channels: [vendas]
channels:
  - id: vendas
    name: Vendas
    number: "+55 11 4000-0000"
    bsp: 360dialog
    api_key_env: CHECK_D360_KEY
    webhook_secret_env: CHECK_D360_SECRET
  - id: sobra
    name: Sobra
    number: "+55 11 4000-0009"
    bsp: sandbox
"""


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what each test sets: the Slack tokens `serve` needs, nothing else."""
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "DATABASE_URL",
        "CONTATO_CONFIG",
        "CHECK_D360_KEY",
        "CHECK_D360_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-not-printed")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-not-printed")


def check(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, list[str]]:
    code = main(["--config", str(path), "check"])
    out, err = capsys.readouterr()
    assert err == ""
    assert "not-printed" not in out
    return code, out.splitlines()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "contato.yml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_example_passes_with_the_slack_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = check(capsys, EXAMPLE)

    assert code == 0
    assert lines[0] == f"{EXAMPLE}: OK"
    assert "language: pt-BR" in lines
    assert "  suporte (Suporte): everyone in the workspace; channels: sandbox; no alerts" in lines
    assert (
        "  sandbox (Sandbox): bsp sandbox, number +551140000000, webhook POST /webhooks/sandbox, "
        "teams: suporte"
    ) in lines
    assert f"database: sqlite:///{EXAMPLE.parent.resolve()}/contato.db" in lines
    assert "note: SLACK_APP_TOKEN is not set: needed only for serve --socket-mode" in lines


def test_a_good_config_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHECK_D360_KEY", "key-not-printed")
    monkeypatch.setenv("CHECK_D360_SECRET", "secret-not-printed")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-not-printed")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://contato:pw-not-printed@db.internal/contato")
    path = write(tmp_path, VENDAS)

    code, lines = check(capsys, path)

    assert code == 0
    assert (
        "  vendas (Vendas): usergroup SVENDAS; channels: vendas; alerts to C0SUPERVIS 30 min before expiry"
    ) in lines
    assert (
        "  vendas (Vendas): bsp 360dialog, number +551140000000, webhook POST /webhooks/vendas, teams: vendas"
    ) in lines
    assert "database: postgresql+psycopg://contato:***@db.internal/contato" in lines
    assert "note: channel sobra is not used by any team, so nobody can send through it" in lines
    assert not any("SLACK_APP_TOKEN" in line for line in lines)


def test_every_problem_is_printed_and_exit_is_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    path = write(tmp_path, VENDAS.replace("channels: [vendas]", "channels: [vendass]"))

    code, lines = check(capsys, path)

    assert code == 1
    assert lines == [
        f'{path}:7: teams[0].channels[0]: no channel with id "vendass" (did you mean "vendas"?) '
        "(channels defined: vendas, sobra)",
        "environment: SLACK_SIGNING_SECRET is not set (needed by serve; see README, 'Create the Slack app')",
        "2 problems found; fix and run 'contato-bot check' again.",
    ]


def test_unset_credentials_are_problems_for_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VENDAS)

    code, lines = check(capsys, path)

    assert code == 1
    assert lines == [
        f"{path}:13: channels[0].api_key_env: environment variable CHECK_D360_KEY is not set",
        f"{path}:14: channels[0].webhook_secret_env: environment variable CHECK_D360_SECRET is not set",
        "2 problems found; fix and run 'contato-bot check' again.",
    ]


def test_missing_slack_tokens(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "")

    code, lines = check(capsys, EXAMPLE)

    assert code == 1
    assert lines == [
        "environment: SLACK_BOT_TOKEN is not set (needed by serve; see README, 'Create the Slack app')",
        "environment: SLACK_SIGNING_SECRET is not set (needed by serve; see README, 'Create the Slack app')",
        "2 problems found; fix and run 'contato-bot check' again.",
    ]


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "contato.yml"

    code, lines = check(capsys, path)

    assert code == 1
    assert lines == [
        f"{path}: the config file does not exist; copy contato.example.yml to {path} and edit it "
        "(or point --config / CONTATO_CONFIG at your file)",
        "1 problem found; fix and run 'contato-bot check' again.",
    ]


def test_config_path_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "teams: [\n")
    monkeypatch.setenv("CONTATO_CONFIG", str(path))

    code = main(["check"])
    lines = capsys.readouterr().out.splitlines()

    assert code == 1
    assert lines[0].startswith(f"{path}:2: not valid YAML: ")


def test_pricing_rules_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = EXAMPLE.read_text().replace("  rules_file:\n", "  rules_file: precos.yml\n")
    path = write(tmp_path, text)
    line = text.splitlines().index("  rules_file: precos.yml") + 1

    code, lines = check(capsys, path)
    assert code == 1
    assert lines[0] == (
        f"{path}:{line}: pricing.rules_file: the pricing rules file {tmp_path / 'precos.yml'} does not exist"
    )

    (tmp_path / "precos.yml").write_text("eras: []\n")
    code, lines = check(capsys, path)
    assert code == 1
    assert lines[0].startswith(f"{tmp_path / 'precos.yml'}: ")

    (tmp_path / "precos.yml").write_text((ROOT / "bot" / "rules" / "pricing.yml").read_text())
    code, lines = check(capsys, path)
    assert code == 0
    assert f"pricing rules: {tmp_path / 'precos.yml'}" in lines


def test_a_rate_card_file_is_read_as_the_app_will(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 10: the admin's rate card in their invoice currency (Meta's CSV export).
    card = "  rate_card_file: brl.csv\n"
    text = EXAMPLE.read_text().replace("  rules_file:\n", "  rules_file:\n" + card)
    path = write(tmp_path, text)
    header = "Market,Currency,Marketing,Utility,Authentication\n"
    (tmp_path / "brl.csv").write_text(header + "Brazil,BRL,0.3,0.04,0.04\n")
    code, lines = check(capsys, path)
    assert code == 1
    no_date = "no date: set pricing.rate_card_from (the day the card takes effect)"
    assert f"{tmp_path / 'brl.csv'}: {no_date}" in lines
    path = write(tmp_path, text.replace(card, card + "  rate_card_from: 2026-07-01\n"))
    (tmp_path / "brl.csv").write_text(header + "Brazil,BRL,0.3,0.04,0.04\nOther,BRL,0.3,0.04,0.04\n")
    code, lines = check(capsys, path)
    assert code == 0, lines


def test_other_commands_refuse_a_bad_config_with_its_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, VENDAS.replace("bsp: sandbox", "bsp: sandbx"))

    code = main(["--config", str(path), "migrate"])
    out, err = capsys.readouterr()

    assert code == 2
    assert out == ""
    assert (
        f"  {path}:18: channels[1].bsp: unknown BSP 'sandbx' (did you mean \"sandbox\"?); use one of: "
        "360dialog, fortics, cloudapi, gupshup, twilio, sandbox"
    ) in err.splitlines()
