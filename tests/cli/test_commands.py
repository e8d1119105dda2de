"""The CLI as an operator uses it: preview, templates, webhook replay, serve's missing settings, and
`serve` really answering on the example config (a subprocess, the README's run command)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from slack_sdk.models.views import View

from bot.cli import main
from tests.blocks.limits import assert_view_within_limits
from tests.conftest import WHATSAPP_FIXTURES
from tests.e2e.fake_slack import free_port
from tests.serve_process import checkout_env, contato_bot, wait_until_serving

ROOT = Path(__file__).parents[2]

CONFIG = """
teams:
  - id: suporte
    name: Suporte
    members: [UAGENT]
    channels: [sandbox]
channels:
  - id: sandbox
    name: Sandbox
    number: "+55 11 4000-0000"
    bsp: sandbox
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = tmp_path / "contato.yml"
    path.write_text(CONFIG)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_preview_prints_a_modal_slack_accepts(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(
        capsys,
        "--config",
        config,
        "sandbox",
        "inbound",
        "sandbox",
        "+55 11 98888-7777",
        "Oi",
        "--at",
        "2026-11-24T18:00:00Z",
    )
    assert code == 0
    code, out, err = run(
        capsys,
        "--config",
        config,
        "preview",
        "sandbox",
        "+55 11 98888-7777",
        "--category",
        "utility",
        "--at",
        "2026-11-24T19:00:00Z",
    )
    assert code == 0, err
    view = json.loads(out)
    assert_view_within_limits(view)
    View(**view).validate_json()
    text = json.dumps(view, ensure_ascii=False)
    assert "Customer Care" in text and "Utilidade" in text


def test_preview_bad_input_is_one_sentence(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--config", config, "preview", "nosuch", "+55 11 98888-7777")
    assert code == 2 and "no channel 'nosuch'" in err and "Traceback" not in err
    code, _, err = run(
        capsys, "--config", config, "preview", "sandbox", "+55 11 98888-7777", "--category", "x"
    )
    assert code == 2 and "unknown category" in err
    code, _, err = run(capsys, "--config", config, "preview", "sandbox", "12")
    assert code == 2 and err.strip()


def test_templates_lists_the_sandbox_templates(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", config, "templates", "sandbox", "--json")
    assert code == 0
    templates = json.loads(out)
    categories = {t["category"] for t in templates}
    assert {"utility", "marketing", "authentication"} <= categories
    assert any(not t["offered"] for t in templates)  # the paused one is listed, never offered
    code, out, _ = run(
        capsys, "--config", config, "templates", "sandbox", "--category", "authentication", "--json"
    )
    assert code == 0 and {t["category"] for t in json.loads(out)} == {"authentication"}


def test_webhook_replay_prints_what_each_file_changed(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbound = str(WHATSAPP_FIXTURES / "cloudapi-inbound-text.json")
    status = str(WHATSAPP_FIXTURES / "cloudapi-status-sent-pmp-marketing-with-conversation.json")
    code, out, err = run(capsys, "--config", config, "webhook", "replay", "sandbox", inbound, status)
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["file"] for line in lines] == [inbound, status]
    assert lines[0]["changes"]["customer_messages"] == 1
    assert lines[1]["changes"]["conversations"] == 1
    # The same files again change nothing.
    code, out, _ = run(capsys, "--config", config, "webhook", "replay", "sandbox", inbound)
    assert json.loads(out.splitlines()[0])["changes"]["customer_messages"] == 0

    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    shape = tmp_path / "shape.json"
    shape.write_text(json.dumps({"object": "whatsapp_business_account", "entry": 3}))
    code, out, err = run(
        capsys,
        "--config",
        config,
        "webhook",
        "replay",
        "sandbox",
        str(bad),
        str(shape),
        str(tmp_path / "missing.json"),
    )
    assert code == 1
    assert "not valid JSON" in err and "entry" in err and "cannot be read" in err
    assert "Traceback" not in err


def test_serve_without_slack_settings_names_what_is_missing(
    config: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = run(capsys, "--config", config, "serve")
    assert code == 1
    assert "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    code, _, err = run(capsys, "--config", config, "serve", "--socket-mode")
    assert code == 1 and "SLACK_APP_TOKEN" in err and "SLACK_BOT_TOKEN" not in err


def test_the_readme_run_command_serves_on_the_example_config(tmp_path: Path) -> None:
    """`contato-bot --config contato.example.yml serve`, as the README says, answers /healthz."""
    shutil.copy(ROOT / "contato.example.yml", tmp_path / "contato.example.yml")
    port = free_port()
    env = checkout_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "secret",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",
        }
    )
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [*contato_bot(), "--config", "contato.example.yml", "serve"]
        + ["--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        response = wait_until_serving(port, process)
        assert response.json() == {"ok": True}
        assert (tmp_path / "contato.db").exists()  # the embedded default: SQLite beside the config
        unsigned = httpx.post(f"http://127.0.0.1:{port}/slack/events", data={"command": "/contato"})
        assert unsigned.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=15)
