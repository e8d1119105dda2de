"""Two real `contato-bot serve` processes on one PostgreSQL, 200 windows due in the same minute:
every alert is posted exactly once (issue 4). The processes talk to one fake Slack Web API."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.bsp.base import InboundMessage
from bot.core.ingest import ingest_events
from bot.store.db import Store
from tests.e2e.fake_slack import FakeSlack, free_port
from tests.serve_process import checkout_env, contato_bot, wait_until_serving

CONFIG = """
alerts:
  scan_seconds: 1
teams:
  - id: suporte
    name: Suporte
    members: [UAGENT]
    alert_channel: CSUPERVISORS
    alert_lead_minutes: 60
    channels: [sandbox]
channels:
  - id: sandbox
    name: Sandbox
    number: "+55 11 4000-0000"
    bsp: sandbox
"""
WINDOWS = 200


def alerted_contacts(slack: FakeSlack) -> list[str]:
    """Every (channel, contact) named by a resume button in the digests posted so far."""
    found = []
    for call in slack.of("chat.postMessage"):
        if call.args.get("channel") != "CSUPERVISORS" or call.response is None:
            continue
        for block in call.args.get("blocks") or []:
            for element in [block.get("accessory"), *block.get("elements", [])]:
                if isinstance(element, dict) and element.get("action_id") == "resume_contact":
                    value = json.loads(element["value"])
                    found.append(f"{value['channel']}:{value['contact']}")
    return found


def test_two_serve_processes_post_each_alert_once(tmp_path: Path, pg_url: str) -> None:
    config = tmp_path / "contato.yml"
    config.write_text(CONFIG)
    store = Store.from_url(pg_url)
    store.migrate()
    now = datetime.now(UTC)
    wrote_at = now - timedelta(hours=23, minutes=30)  # every window closes in 30 min (lead 60)
    events = [
        InboundMessage(message_id=f"wamid.two.{i}", wa_id=f"55119{70000000 + i}", at=wrote_at, text="Oi")
        for i in range(WINDOWS)
    ]
    ingest_events(store, "sandbox", events, now)
    store.dispose()

    slack = FakeSlack().start()
    ports = [free_port(), free_port()]
    env = checkout_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-two",
            "SLACK_SIGNING_SECRET": "secret",
            "SLACK_API_URL": slack.url,
            "DATABASE_URL": pg_url,
            "LOG_LEVEL": "WARNING",
        }
    )
    processes = [
        subprocess.Popen(
            [*contato_bot(), "--config", str(config), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in ports
    ]
    try:
        for port, process in zip(ports, processes, strict=True):
            wait_until_serving(port, process)
        deadline = time.monotonic() + 60
        while len(alerted_contacts(slack)) < WINDOWS and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # several more scans in both processes: nothing more may be posted
        alerted = alerted_contacts(slack)
        assert len(alerted) == WINDOWS
        assert len(set(alerted)) == WINDOWS
        tokens = {call.token for call in slack.of("chat.postMessage")}
        assert tokens == {"xoxb-two"}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)
        slack.stop()
