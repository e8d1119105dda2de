"""Issue 12: `contato-bot check --online` against the fake Slack and a respx BSP: a missing
scope, an alert channel the app is not in, a bad BSP key and an unreachable database, each one
located sentence, exit 1; environment checks even when the file has errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from bot.cli import main
from bot.core.online_check import MANIFEST
from bot.store.db import Store
from tests.e2e.fake_slack import Failure, FakeSlack

D360 = "http://d360.test"
UNREACHABLE = "postgresql+psycopg://contato@127.0.0.1:1/contato"

CONFIG = f"""\
teams:
  - id: vendas
    name: Vendas
    usergroup: SVENDAS
    alert_channel: C0SUPERVIS
    channels: [vendas]
  - id: suporte
    name: Suporte
    usergroup: SSUMIU
    alert_channel: C0SUPORTE
    channels: [vendas]
channels:
  - id: vendas
    name: Vendas
    number: "+55 11 4000-0000"
    bsp: 360dialog
    base_url: {D360}
    api_key_env: ONLINE_D360_KEY
    webhook_secret_env: ONLINE_D360_SECRET
"""

BAD_KEY = {"meta": {"success": False, "http_code": 401, "developer_message": "Invalid api key"}}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    fake.usergroups = {"SVENDAS": ["UVENDAS"], "SSUMIU": []}
    fake.channels = {"C0SUPERVIS": True, "C0SUPORTE": True}
    yield fake
    fake.stop()


@pytest.fixture
def config(tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("CONTATO_CONFIG", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-online")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing")
    monkeypatch.setenv("SLACK_API_URL", slack.url)
    monkeypatch.setenv("ONLINE_D360_KEY", "d360-key")
    monkeypatch.setenv("ONLINE_D360_SECRET", "hook-secret")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    path = tmp_path / "contato.yml"
    path.write_text(CONFIG)
    database = f"sqlite:///{tmp_path / 'contato.db'}"
    store = Store.from_url(database)
    store.migrate()
    store.dispose()
    monkeypatch.setenv("DATABASE_URL", database)
    return path


def check(capsys: pytest.CaptureFixture[str], config: Path) -> tuple[int, list[str]]:
    code = main(["check", "--online", "--config", str(config)])
    out, err = capsys.readouterr()
    assert err == ""
    return code, out.splitlines()


def test_everything_answers_and_agrees(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock(assert_all_called=True) as bsp:
        bsp.get(f"{D360}/v1/configs/templates").respond(json={"count": 0, "total": 0, "waba_templates": []})
        bsp.get(f"{D360}/v1/configs/webhook").respond(
            json={"url": "https://contato.example.com/webhooks/vendas"}
        )
        code, lines = check(capsys, config)
    assert code == 0, lines
    assert lines[0] == f"{config}: OK"
    assert "alert scan: every 30 s; retries given up after 120 min" in lines
    assert "retention: processed webhooks 30 days, message texts 180 days" in lines


def test_each_problem_is_one_located_sentence(
    config: Path, slack: FakeSlack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    slack.scopes = [s for s in slack.scopes if s != "usergroups:read"]  # installed before it was asked for
    slack.channels["C0SUPERVIS"] = False  # nobody invited the app
    del slack.usergroups["SSUMIU"]  # deleted in Slack since
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)
    with respx.mock(assert_all_called=True) as bsp:
        bsp.get(f"{D360}/v1/configs/templates").respond(401, json=BAD_KEY)
        code, lines = check(capsys, config)

    assert code == 1
    assert lines == [
        "environment: DATABASE_URL: the database at postgresql+psycopg://contato@127.0.0.1:1/contato does "
        f"not answer ({lines[0].split('(', 1)[1]}",
        f"Slack: the app was not granted the scope usergroups:read that {MANIFEST} asks for; reinstall"
        " the app to the workspace (Install App in the app's settings).",
        f"{config}:5: teams[0].alert_channel: the app is not in #c0supervis (C0SUPERVIS): invite it with "
        "/invite in that channel.",
        f"{config}:9: teams[1].usergroup: Slack has no user group SSUMIU in this workspace.",
        f"{config}:13: channels[0]: 360dialog refused the credentials of channel vendas (invalid_api_key: "
        "Invalid api key).",
        "5 problems found; fix and run 'contato-bot check --online' again.",
    ]
    assert lines[0].endswith(").") and "OperationalError" in lines[0]
    assert "xoxb-online" not in "\n".join(lines) and "d360-key" not in "\n".join(lines)


def test_a_channel_that_does_not_exist_and_a_revoked_token(
    config: Path, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    del slack.channels["C0SUPORTE"]
    with respx.mock(assert_all_called=False) as bsp:
        bsp.get(f"{D360}/v1/configs/templates").respond(json={"count": 0, "total": 0, "waba_templates": []})
        bsp.get(f"{D360}/v1/configs/webhook").respond(json={"url": "https://old.example.com/hook"})
        code, lines = check(capsys, config)
        assert code == 1
        assert lines[:-1] == [
            f"{config}:10: teams[1].alert_channel: Slack has no channel C0SUPORTE, or it is private and the "
            "app is not in it.",
            f"{config}:13: channels[0]: 360dialog sends channel vendas's webhooks to "
            "https://old.example.com/hook, not to a URL ending in /webhooks/vendas.",
        ]

        slack.fail_next("auth.test", Failure(200, {"ok": False, "error": "token_revoked"}))
        code, lines = check(capsys, config)
    assert code == 1
    assert "environment: SLACK_BOT_TOKEN: Slack refused the token (token_revoked)." in lines


def test_environment_checks_run_even_when_the_file_has_errors(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config.write_text("teams: [\n")
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)
    with respx.mock(assert_all_called=False):
        code, lines = check(capsys, config)
    assert code == 1
    assert any(line.startswith("environment: DATABASE_URL: the database at ") for line in lines)
    assert any(line.startswith(f"{config}:") for line in lines)  # the file's own problem too


def test_a_database_not_migrated_says_to_migrate(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty.db").touch()  # a file, but never migrated
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    with respx.mock(assert_all_called=False) as bsp:
        bsp.get(f"{D360}/v1/configs/templates").respond(json={"count": 0, "total": 0, "waba_templates": []})
        bsp.get(f"{D360}/v1/configs/webhook").mock(return_value=httpx.Response(404))
        code, lines = check(capsys, config)
    assert code == 1
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    assert lines[0].startswith(f"environment: DATABASE_URL: the database at {empty} is at migration none")
    assert lines[0].endswith("run 'contato-bot migrate'.")


def test_the_built_in_scopes_are_the_manifests(tmp_path: Path) -> None:
    """An installed package without manifest.yml still checks the scopes manifest.yml asks for."""
    from bot.core.online_check import DEFAULT_BOT_SCOPES, manifest_scopes

    where, scopes = manifest_scopes(tmp_path / "contato.yml")
    assert (where, scopes) == (str(MANIFEST), set(DEFAULT_BOT_SCOPES))


def test_a_sqlite_file_not_created_yet_is_a_note_and_stays_uncreated(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'later.db'}")
    with respx.mock(assert_all_called=False) as bsp:
        bsp.get(f"{D360}/v1/configs/templates").respond(json={"count": 0, "total": 0, "waba_templates": []})
        bsp.get(f"{D360}/v1/configs/webhook").respond(json={"url": "https://x.example/webhooks/vendas"})
        code, lines = check(capsys, config)
    assert code == 0
    later = tmp_path / "later.db"
    assert f"note: the SQLite database {later} does not exist yet; serve or migrate creates it" in lines
    assert not (tmp_path / "later.db").exists()
