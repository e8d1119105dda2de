"""A customer message the BSP delivers late (written 23 h 30 min ago, so its window closes in 30 min,
already inside the 60-minute lead) reaches a running `contato-bot serve` after its scans have
moved past that expiry: the supervisors' alert is posted by the next scan, within seconds, not at
a periodic full sweep minutes later. A real serve process, a real 360dialog webhook, the fake
Slack Web API; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bot.bsp.base import InboundMessage
from bot.core.ingest import ingest_events
from bot.store.db import Store
from tests.conftest import load_fixture
from tests.e2e.fake_slack import FakeSlack, free_port
from tests.serve_process import checkout_env, contato_bot, wait_until_serving

SECRET = "s3cret-late"
CONFIG = """
alerts:
  scan_seconds: 2
teams:
  - id: suporte
    name: Suporte
    members: [UAGENT]
    alert_channel: CSUPERVISORS
    alert_lead_minutes: 60
    channels: [vendas]
channels:
  - id: vendas
    name: Vendas
    number: "+55 11 4000-0000"
    bsp: 360dialog
    base_url: http://127.0.0.1:9
    api_key_env: LATE_D360_KEY
    webhook_secret_env: LATE_D360_SECRET
"""
ALERT_DEADLINE_S = 10  # functional: one 2-second scan interval, with room for a slow machine


def alerted(slack: FakeSlack) -> list[str]:
    """The contacts named by the resume buttons of the digests Slack accepted so far."""
    found = []
    for call in slack.of("chat.postMessage"):
        if call.args.get("channel") != "CSUPERVISORS" or call.response is None:
            continue
        for block in call.args.get("blocks") or []:
            accessory = block.get("accessory") or {}
            if accessory.get("action_id") == "resume_contact":
                found.append(json.loads(accessory["value"])["contact"])
    return found


def wait_for_alerts(slack: FakeSlack, count: int, process: subprocess.Popen[bytes]) -> list[str]:
    deadline = time.monotonic() + ALERT_DEADLINE_S
    while len(alerted(slack)) < count:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, f"alerts posted: {alerted(slack)}"
        time.sleep(0.1)
    return alerted(slack)


def late_webhook(wrote_at: datetime) -> bytes:
    """cloudapi-inbound-text.json (Meta's envelope, which 360dialog forwards) written at `wrote_at`."""
    body = load_fixture("cloudapi-inbound-text.json")
    body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(int(wrote_at.timestamp()))
    return json.dumps(body).encode()


def test_late_customer_message_is_alerted_by_the_next_scan(tmp_path: Path, db_url: str) -> None:
    config = tmp_path / "contato.yml"
    config.write_text(CONFIG)
    store = Store.from_url(db_url)
    store.migrate()
    # A window already due when serve starts: its alert shows that the first scan has run.
    now = datetime.now(UTC)
    early = InboundMessage(
        message_id="wamid.early", wa_id="5511970000001", at=now - timedelta(hours=23, minutes=45), text="Oi"
    )
    ingest_events(store, "vendas", [early], now)
    store.dispose()

    slack = FakeSlack().start()
    port = free_port()
    env = checkout_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-late",
            "SLACK_SIGNING_SECRET": "secret",
            "SLACK_API_URL": slack.url,
            "DATABASE_URL": db_url,
            "LOG_LEVEL": "WARNING",
            "LATE_D360_KEY": "d360-key",
            "LATE_D360_SECRET": SECRET,
        }
    )
    process = subprocess.Popen(
        [*contato_bot(), "--config", str(config), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_serving(port, process)
        assert wait_for_alerts(slack, 1, process) == ["+5511970000001"]

        wrote_at = datetime.now(UTC) - timedelta(hours=23, minutes=30)
        response = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/vendas",
            content=late_webhook(wrote_at),
            headers={"Content-Type": "application/json", "X-Webhook-Secret": SECRET},
            timeout=5,
        )
        assert response.status_code == 200

        assert wait_for_alerts(slack, 2, process) == ["+5511970000001", "+16505551234"]
    finally:
        process.terminate()
        process.wait(timeout=15)
        slack.stop()
