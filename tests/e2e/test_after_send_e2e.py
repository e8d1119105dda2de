"""Issue 4, end to end: delivery statuses update the agent's confirmation in Slack; the scheduler
warns supervisors before a window closes, and the alert's button opens the prefilled screen."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.blocks import modal
from bot.bsp.base import InboundMessage
from bot.core.alerts import RESUME_ACTION_ID
from bot.core.ingest import ingest_events
from bot.i18n import Catalog
from bot.store.models import OutboundMessage
from tests.e2e.harness import Clock, RunningApp, running_app, selected, typed, write_config

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
CUSTOMER = "+5511988887777"
SECRET = "sandbox-webhook-secret"

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
    webhook_secret_env: E2E_SANDBOX_SECRET
"""


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


def start(tmp_path: Path, db_url: str, clock: Clock, *, with_scheduler: bool) -> Any:
    return running_app(write_config(tmp_path, CONFIG), db_url, clock, with_scheduler=with_scheduler)


@pytest.fixture
def app(tmp_path: Path, db_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningApp]:
    monkeypatch.setenv("E2E_SANDBOX_SECRET", SECRET)
    with start(tmp_path, db_url, clock, with_scheduler=False) as running:
        yield running


def customer_writes(app: RunningApp, at: datetime) -> None:
    event = InboundMessage(
        message_id=f"wamid.IN.{at.timestamp()}",
        wa_id=CUSTOMER.lstrip("+"),
        at=at,
        text="Oi",
        profile_name="Maria",
    )
    ingest_events(app.rt.store, "sandbox", [event], at)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def status_webhook(message_id: str, status: str, at: datetime) -> bytes:
    """A Meta-envelope status, as the BSP would post it."""
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "WABA",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {"display_phone_number": "551140000000", "phone_number_id": "PN"},
                                "statuses": [
                                    {
                                        "id": message_id,
                                        "status": status,
                                        "timestamp": str(int(at.timestamp())),
                                        "recipient_id": CUSTOMER.lstrip("+"),
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def test_statuses_read_delivered_sent_leave_the_confirmation_at_read(app: RunningApp) -> None:
    customer_writes(app, NOW - timedelta(hours=1))
    app.command(CUSTOMER)
    app.slack.wait_for("views.open")
    view = app.last_view()
    app.submit(
        view,
        {
            modal.BLOCK_CATEGORY: selected("service", modal.ACTION_CATEGORY),
            modal.BLOCK_FREE_TEXT: typed("Olá!", modal.ACTION_FREE_TEXT),
        },
    )
    posted = app.slack.wait_for("chat.postMessage")[0]

    def confirmation_row() -> OutboundMessage | None:
        with app.rt.store.session() as session:
            return session.scalars(
                select(OutboundMessage).where(OutboundMessage.slack_ts.is_not(None))
            ).first()

    wait_until(lambda: confirmation_row() is not None)
    row = confirmation_row()
    assert row is not None and row.bsp_message_id
    headers = {"X-Webhook-Secret": SECRET, "Content-Type": "application/json"}
    for i, status in enumerate(["read", "delivered", "sent"]):
        body = status_webhook(row.bsp_message_id, status, NOW + timedelta(seconds=10 - i))
        assert app.http.post("/webhooks/sandbox", content=body, headers=headers).status_code == 200
    # The first status moves it (read); the later, lower ones never move it back.
    updates = app.slack.wait_for("chat.update", 1)
    time.sleep(0.5)
    updates = app.slack.of("chat.update")
    read_line = Catalog("pt-BR").t("messages.status.read")
    last = json.dumps(updates[-1].args, ensure_ascii=False)
    assert read_line in last
    assert all(u.args["ts"] == posted.response["ts"] for u in updates)  # type: ignore[index]
    with app.rt.store.session() as session:
        assert session.get(OutboundMessage, row.id).status == "read"  # type: ignore[union-attr]


def test_an_alert_before_the_window_closes_and_its_button_opens_the_screen(
    tmp_path: Path, db_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2E_SANDBOX_SECRET", SECRET)
    with start(tmp_path, db_url, clock, with_scheduler=True) as app:
        customer_writes(app, NOW - timedelta(hours=23, minutes=30))  # closes in 30 min; lead 60 min

        def alerts() -> list[Any]:
            return [c for c in app.slack.of("chat.postMessage") if c.args.get("channel") == "CSUPERVISORS"]

        wait_until(lambda: len(alerts()) >= 1)
        time.sleep(2.5)  # two more scans (every second): still one alert
        assert len(alerts()) == 1
        alert = alerts()[0]
        text = json.dumps(alert.args, ensure_ascii=False)
        assert "Sandbox" in text and "98888" in text
        # Issue 10: the phone as people write it, the time as a Slack date token, never "UTC".
        closes = NOW + timedelta(minutes=30)
        assert "+55 11 98888-7777" in text and "Fecha em 30 min" in text
        assert f"<!date^{int(closes.timestamp())}^{{date_short_pretty}} {{time}}|24/11 16:30>" in text
        assert "UTC" not in text
        buttons = [
            element
            for block in alert.args["blocks"]
            for element in ([block.get("accessory")] + block.get("elements", []))
            if isinstance(element, dict) and element.get("action_id") == RESUME_ACTION_ID
        ]
        assert len(buttons) == 1

        # The supervisor presses "Retomar contato": the screen opens prefilled.
        response = app.interact(
            {
                "type": "block_actions",
                "user": {"id": "UAGENT"},
                "trigger_id": "trigger-resume",
                "container": {
                    "type": "message",
                    "channel_id": "CSUPERVISORS",
                    "message_ts": alert.response["ts"],
                },
                "channel": {"id": "CSUPERVISORS"},
                "message": {"ts": alert.response["ts"], "blocks": alert.args["blocks"]},
                "actions": [{**buttons[0], "block_id": "b", "action_ts": "1"}],
            }
        )
        assert response.status_code == 200
        opened = app.slack.wait_for("views.open")[0]
        assert opened.args["trigger_id"] == "trigger-resume"
        view = opened.args["view"]
        metadata = json.loads(view["private_metadata"])
        assert CUSTOMER in json.dumps(metadata) and "sandbox" in json.dumps(metadata)
        assert "Customer Care" in json.dumps(view, ensure_ascii=False)


def test_app_home_shows_windows_closing_and_recent_sends(app: RunningApp) -> None:
    customer_writes(app, NOW - timedelta(hours=22))  # closes in 2 h
    response = app.event(
        {"type": "app_home_opened", "user": "UAGENT", "channel": "D1", "tab": "home", "event_ts": "1.0"}
    )
    assert response.status_code == 200
    published = app.slack.wait_for("views.publish")[0]
    assert published.args["user_id"] == "UAGENT"
    view = published.args["view"]
    assert view["type"] == "home"
    text = json.dumps(view, ensure_ascii=False)
    assert "98888" in text and RESUME_ACTION_ID in text
    closes = NOW + timedelta(hours=2)
    assert f"<!date^{int(closes.timestamp())}^{{date_short_pretty}} {{time}}|24/11 18:00>" in text
    assert "UTC" not in text


def test_a_failed_status_says_why_in_plain_words(app: RunningApp) -> None:
    customer_writes(app, NOW - timedelta(hours=1))
    app.command(CUSTOMER)
    app.slack.wait_for("views.open")
    app.submit(
        app.last_view(),
        {
            modal.BLOCK_CATEGORY: selected("service", modal.ACTION_CATEGORY),
            modal.BLOCK_FREE_TEXT: typed("Olá!", modal.ACTION_FREE_TEXT),
        },
    )
    app.slack.wait_for("chat.postMessage")

    def bsp_id() -> str | None:
        with app.rt.store.session() as session:
            row = session.scalars(
                select(OutboundMessage).where(OutboundMessage.slack_ts.is_not(None))
            ).first()
            return row.bsp_message_id if row is not None else None

    wait_until(lambda: bsp_id() is not None)
    failed = json.loads(status_webhook(str(bsp_id()), "failed", NOW + timedelta(seconds=5)))
    failed["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] = [
        {"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message"}
    ]
    headers = {"X-Webhook-Secret": SECRET, "Content-Type": "application/json"}
    assert app.http.post("/webhooks/sandbox", content=json.dumps(failed), headers=headers).status_code == 200
    update = app.slack.wait_for("chat.update")[0]
    text = json.dumps(update.args, ensure_ascii=False)
    assert Catalog("pt-BR").t("bsp_errors.window_closed") in text
    assert "❌" in text
    assert "sem custo (não entregue)" in text  # issue 10: a failed send costs nothing
