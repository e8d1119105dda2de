"""Logs as an operator reads them (issue 12): LOG_FORMAT=text|json, context fields, phones masked
and secrets never, LOG_LEVEL in any case, APScheduler's routine lines gone, uvicorn's lines in the
same format as the app's, and no Bolt warning at start."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from bot import logs
from bot.cli import main
from tests.e2e.fake_slack import free_port
from tests.serve_process import checkout_env, wait_until_serving

PHONE = "5511988887777"
TOKEN = "xoxb-1111-2222-never-logged"
SIGNING_SECRET = "signing-secret-never-logged"
CONFIG = """
alerts:
  scan_seconds: 1
teams:
  - id: suporte
    name: Suporte
    members: [UAGENT]
    alert_channel: CSUPERVISORS
    channels: [d360]
channels:
  - id: d360
    name: Suporte 360
    number: "+55 11 4000-0000"
    bsp: 360dialog
    api_key_env: LOGTEST_D360_KEY
    webhook_secret_env: LOGTEST_D360_HOOK
"""
D360_KEY = "d360-api-key-never-logged"
D360_HOOK = "d360-webhook-secret-never-logged"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging(force=True) replaces the root handlers; put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in logs.QUIET_LOGGERS}
    uvicorn = {
        name: (lg.handlers[:], lg.level, lg.propagate)
        for name in logs.UVICORN_LOGGERS
        for lg in [logging.getLogger(name)]
    }
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, value in quiet.items():
            logging.getLogger(name).setLevel(value)
        for name, (handlers_, level_, propagate) in uvicorn.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers_
            logger.setLevel(level_)
            logger.propagate = propagate


def configured(fmt: str, level: str = "info") -> io.StringIO:
    stream = io.StringIO()
    environ = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    logs.setup_logging(level, fmt, environ=environ, stream=stream, force=True)
    return stream


def assert_nothing_leaks(text: str) -> None:
    for secret in (TOKEN, SIGNING_SECRET, D360_KEY, D360_HOOK):
        assert secret not in text
    assert re.search(r"\d{10,}", text) is None, text  # no unmasked phone (nor any 10-digit run)
    assert "98888" not in text


def test_json_lines_have_the_fields_and_hide_phones_and_secrets(restore_logging: None) -> None:
    stream = configured("json")
    log = logging.getLogger("bot.test")
    with logs.log_context(channel="d360", provider="360dialog", request_id="req-1"):
        log.info("sent to %s with token %s", f"+{PHONE}", TOKEN)
        log.warning("agent typed %s", "+55 (11) 98888-7777", extra={"slack_user": "UAGENT"})
        try:
            raise RuntimeError(f"BSP refused {PHONE} (key {TOKEN})")
        except RuntimeError:
            log.exception("send failed")
    logging.getLogger("uvicorn.error").info("Uvicorn running on http://127.0.0.1:3000")

    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    entries = [json.loads(line) for line in lines]
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys()
        assert entry["time"].endswith("Z")
        assert datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).utcoffset().total_seconds() == 0
    sent, typed, failed, uvicorn_line = entries
    assert sent["level"] == "INFO" and sent["logger"] == "bot.test"
    assert sent["message"] == "sent to +55 11 9****-7777 with token ***"
    assert (sent["channel"], sent["provider"], sent["request_id"]) == ("d360", "360dialog", "req-1")
    assert "slack_user" not in sent
    assert typed["slack_user"] == "UAGENT" and typed["message"] == "agent typed +55 11 9****-7777"
    assert failed["level"] == "ERROR" and "exc" in failed
    assert "Traceback" in failed["exc"]
    assert "RuntimeError: BSP refused +55 11 9****-7777 (key ***)" in failed["exc"]
    assert uvicorn_line["logger"] == "uvicorn.error" and "channel" not in uvicorn_line
    assert_nothing_leaks(stream.getvalue())


def test_text_lines_carry_the_context_and_hide_phones_and_secrets(restore_logging: None) -> None:
    stream = configured("text")
    log = logging.getLogger("bot.test")
    with logs.log_context(channel="d360"):
        log.info("inbound from %s, signed with %s", PHONE, SIGNING_SECRET)
    line = stream.getvalue().strip()
    assert line.endswith("INFO bot.test: inbound from +55 11 9****-7777, signed with *** [channel=d360]")
    assert_nothing_leaks(line)


async def test_slack_requests_name_the_user(restore_logging: None) -> None:
    from slack_bolt.context.async_context import AsyncBoltContext
    from slack_bolt.response import BoltResponse

    from bot.app import _slack_log_context

    stream = configured("json")

    async def listener() -> BoltResponse:
        logging.getLogger("bot.handlers").info("modal opened")
        return BoltResponse(status=200)

    response = await _slack_log_context(AsyncBoltContext({"user_id": "UAGENT"}), listener)
    assert response.status == 200
    logging.getLogger("bot.handlers").info("after the request")
    during, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert during["slack_user"] == "UAGENT" and "slack_user" not in after


def test_ids_and_slack_timestamps_are_not_taken_for_phones() -> None:
    assert logs.mask_phones("ts 1732540000.123456 order 12345678901234567890") == (
        "ts 1732540000.123456 order 12345678901234567890"
    )
    assert logs.mask_phones("wa_id=5511988887777.") == "wa_id=+55 11 9****-7777."


def test_the_variables_the_config_names_are_secrets(tmp_path: Path) -> None:
    from bot.config import load_config

    path = tmp_path / "contato.yml"
    path.write_text(CONFIG)
    config = load_config(str(path))
    environ = {"LOGTEST_D360_KEY": D360_KEY, "LOGTEST_D360_HOOK": D360_HOOK, "OTHER": "not-a-secret-value"}
    assert sorted(logs.config_secrets(config, environ)) == sorted([D360_KEY, D360_HOOK])
    assert logs.environment_secrets({"DATABASE_URL": "postgresql://app:pg-password-1@db/contato"}) == [
        "",
        "",
        "",
        "pg-password-1",
    ]


@pytest.mark.parametrize("value", ["debug", "Info", "WARNING", "error", "critical", "", None])
def test_log_level_in_any_case(value: str | None, restore_logging: None) -> None:
    configured("text", level=value if value is not None else "")
    expected = (value or "info").upper()
    assert logging.getLogger().level == logging.getLevelNamesMapping()[expected]


def test_apscheduler_routine_lines_are_not_logged(restore_logging: None) -> None:
    stream = configured("text", level="debug")
    logging.getLogger("apscheduler.executors.default").info('Running job "tick" (scheduled at ...)')
    logging.getLogger("apscheduler.executors.default").info('Job "tick" executed successfully')
    logging.getLogger("apscheduler.scheduler").warning("Run time of job was missed")
    assert logging.getLogger("apscheduler").level == logging.WARNING
    assert logging.getLogger("apscheduler.executors.default").getEffectiveLevel() == logging.WARNING
    assert stream.getvalue().count("\n") == 1 and "was missed" in stream.getvalue()


def test_main_quiets_apscheduler(restore_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    logging.getLogger("apscheduler").setLevel(logging.NOTSET)
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    capsys.readouterr()
    main(["--config", "/nonexistent/contato.yml", "check"])
    capsys.readouterr()
    assert logging.getLogger("apscheduler").level == logging.WARNING


def example_check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    for name in ("DATABASE_URL", "CONTATO_CONFIG", "LOG_FORMAT", "PORT"):
        monkeypatch.delenv(name, raising=False)


ROOT = Path(__file__).parents[1]
EXAMPLE = str(ROOT / "contato.example.yml")
CLI = [sys.executable, "-m", "bot.cli"]


def test_log_level_debug_works_and_verbose_is_refused_in_one_sentence(
    slack_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    example = str(shutil.copy(EXAMPLE, tmp_path / "contato.yml"))
    monkeypatch.setenv("LOG_LEVEL", "debug")
    code, out, err = example_check(capsys, "--config", example, "check")
    assert code == 0 and "Traceback" not in err

    monkeypatch.setenv("LOG_LEVEL", "verbose")
    code, out, err = example_check(capsys, "--config", example, "check")
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert "LOG_LEVEL='verbose' is not a log level" in err
    assert "debug, info, warning, error, critical" in err

    monkeypatch.setenv("LOG_LEVEL", "info")
    monkeypatch.setenv("LOG_FORMAT", "yaml")
    code, out, err = example_check(capsys, "--config", example, "check")
    assert code == 1 and err.count("\n") == 1 and "use text or json" in err


def test_bolt_starts_without_the_token_will_be_unused_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from pydantic import SecretStr

    from bot.app import build_bolt_app
    from bot.config import Settings
    from bot.runtime import build_runtime

    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)  # Bolt reads it itself when not handed a token
    path = tmp_path / "contato.yml"
    path.write_text(CONFIG)
    settings = Settings(
        slack_bot_token=SecretStr(TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        database_url=f"sqlite:///{tmp_path / 'contato.db'}",
        slack_api_url="http://127.0.0.1:9/api",
    )
    rt = build_runtime(str(path), settings=settings)
    try:
        with caplog.at_level(logging.DEBUG):
            bolt = build_bolt_app(rt)
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
        assert bolt.client.token == TOKEN
        assert bolt.client.base_url == "http://127.0.0.1:9/api/"
        assert {type(h).__name__ for h in bolt.client.retry_handlers} >= {
            "AsyncRateLimitErrorRetryHandler",
            "AsyncConnectionErrorRetryHandler",
        }
    finally:
        rt.store.dispose()


def test_serve_prints_only_json_lines_without_secrets_phones_or_scheduler_noise(tmp_path: Path) -> None:
    """A real `serve` with LOG_FORMAT=json and LOG_LEVEL=debug: every line it prints (uvicorn's too)
    is a JSON object with the fields; none holds a secret or a phone; no routine scheduler line,
    no Bolt warning, though the alert scan runs every second."""
    config = tmp_path / "contato.yml"
    config.write_text(CONFIG)
    port = free_port()
    env = checkout_env(
        {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": "http://127.0.0.1:9/api/",
            "LOGTEST_D360_KEY": D360_KEY,
            "LOGTEST_D360_HOOK": D360_HOOK,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "debug",
        }
    )
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--config", str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_serving(port, process)
        refused = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/d360",
            headers={"X-Webhook-Secret": "wrong", "X-Request-ID": "req-logs-1"},
            json={"messages": [{"from": PHONE, "text": {"body": f"meu numero {PHONE}"}}]},
        )
        assert refused.status_code == 401
        time.sleep(2.5)  # two or three alert scans
    finally:
        process.terminate()
        output = process.communicate(timeout=15)[0].decode()

    lines = [line for line in output.splitlines() if line.strip()]
    assert lines
    entries = []
    for line in lines:
        entry = json.loads(line)  # every line, not just ours
        assert {"time", "level", "logger", "message"} <= entry.keys(), line
        entries.append(entry)
    loggers = {entry["logger"] for entry in entries}
    assert "uvicorn.error" in loggers and "bot.serve" in loggers
    refusals = [e for e in entries if e.get("request_id") == "req-logs-1"]
    assert refusals and all(e["channel"] == "d360" and e["provider"] == "360dialog" for e in refusals)
    assert not [e for e in entries if e["logger"].startswith("apscheduler")]
    assert "Running job" not in output and "executed successfully" not in output
    assert "will be unused" not in output and "Traceback" not in output
    assert_nothing_leaks(output)
