"""Issue 3, end to end: BSP webhooks into the real app over HTTP, and what the screen then shows."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.blocks.text import format_remaining, format_time
from bot.store.models import CustomerEvent, StatusEvent, WebhookDelivery, Window
from tests.conftest import WHATSAPP_FIXTURES
from tests.e2e.harness import Clock, RunningApp, running_app, write_config

SECRET = "s3cret-vendas"
APP_SECRET = "meta-app-secret"

CONFIG = """
teams:
  - id: suporte
    name: Suporte
    members: [UAGENT]
    channels: [vendas, meta]
channels:
  - id: vendas
    name: Vendas
    number: "+55 11 4000-0000"
    bsp: 360dialog
    base_url: http://127.0.0.1:9
    api_key_env: E2E_D360_KEY
    webhook_secret_env: E2E_D360_SECRET
  - id: meta
    name: Meta direto
    number: "+55 11 4000-0002"
    bsp: cloudapi
    base_url: http://127.0.0.1:9
    access_token_env: E2E_META_TOKEN
    app_secret_env: E2E_META_APP_SECRET
    verify_token_env: E2E_META_VERIFY
    waba_id: "102290129340398"
    phone_number_id: "106540352242922"
"""

INBOUND_AT = datetime.fromtimestamp(1749416383, UTC)  # cloudapi-inbound-text.json


@pytest.fixture
def clock() -> Clock:
    return Clock(INBOUND_AT + timedelta(hours=2))


@pytest.fixture
def app(tmp_path: Path, db_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningApp]:
    monkeypatch.setenv("E2E_D360_KEY", "d360-key")
    monkeypatch.setenv("E2E_D360_SECRET", SECRET)
    monkeypatch.setenv("E2E_META_TOKEN", "meta-token")
    monkeypatch.setenv("E2E_META_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("E2E_META_VERIFY", "verify-me")
    with running_app(write_config(tmp_path, CONFIG), db_url, clock) as running:
        yield running


def fixture_bytes(name: str) -> bytes:
    return (WHATSAPP_FIXTURES / name).read_bytes()


def post_360(app: RunningApp, body: bytes, secret: str | None = SECRET) -> Any:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Webhook-Secret"] = secret
    return app.http.post("/webhooks/vendas", content=body, headers=headers)


def meta_signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def drain(app: RunningApp) -> None:
    """Wait until the app has processed every delivery it acknowledged."""
    import time

    deadline = time.monotonic() + 15
    while True:
        with app.rt.store.session() as session:
            pending = session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.processed_at.is_(None))
            )
        if not pending:
            return
        assert time.monotonic() < deadline, "webhook deliveries were not processed"
        time.sleep(0.02)


def snapshot(app: RunningApp) -> dict[str, Any]:
    with app.rt.store.session() as session:
        return {
            "events": sorted(
                (e.channel_id, e.kind, e.ref, e.at.isoformat(), e.expires_at and e.expires_at.isoformat())
                for e in session.scalars(select(CustomerEvent))
            ),
            "windows": sorted(
                (w.channel_id, w.kind, w.expires_at.isoformat()) for w in session.scalars(select(Window))
            ),
            "statuses": sorted((s.message_id, s.status) for s in session.scalars(select(StatusEvent))),
        }


def test_inbound_360dialog_webhook_opens_the_customer_care_card(app: RunningApp) -> None:
    response = post_360(app, fixture_bytes("cloudapi-inbound-text.json"))
    assert response.status_code == 200
    drain(app)
    app.command("+1 650-555-1234")
    view = app.slack.wait_for("views.open")[0].args["view"]
    text = json.dumps(view, ensure_ascii=False)
    expires = INBOUND_AT + timedelta(hours=24)
    assert format_time(expires, "pt-BR") in text
    assert (
        format_remaining(int((expires - (INBOUND_AT + timedelta(hours=2))).total_seconds()), "pt-BR") in text
    )


def test_cbp_marketing_status_shows_the_conversation_time_left(app: RunningApp, clock: Clock) -> None:
    sent_at = datetime.fromtimestamp(1750030073, UTC)
    expires = datetime.fromtimestamp(1750116480, UTC)
    clock.at = sent_at + timedelta(hours=1)
    assert (
        post_360(app, fixture_bytes("cloudapi-status-sent-pmp-marketing-with-conversation.json")).status_code
        == 200
    )
    drain(app)
    app.command("+1 650 555 1234")
    view = app.slack.wait_for("views.open")[0].args["view"]
    text = json.dumps(view, ensure_ascii=False)
    assert format_remaining(int((expires - clock.at).total_seconds()), "pt-BR") in text


def test_the_same_delivery_three_times_and_a_shuffled_batch_leave_identical_state(app: RunningApp) -> None:
    names = [
        "cloudapi-inbound-text.json",
        "cloudapi-status-sent-pmp-marketing-with-conversation.json",
        "cloudapi-status-failed-131049.json",
        "cloudapi-inbound-template-quick-reply-button.json",
    ]
    for name in names:
        assert post_360(app, fixture_bytes(name)).status_code == 200
    drain(app)
    once = snapshot(app)
    assert once["events"]
    for _ in range(2):
        for name in random.Random(7).sample(names, len(names)):
            assert post_360(app, fixture_bytes(name)).status_code == 200
    drain(app)
    assert snapshot(app) == once


def test_refused_requests_touch_nothing(app: RunningApp) -> None:
    before = snapshot(app)
    body = fixture_bytes("cloudapi-inbound-text.json")
    assert post_360(app, body, secret=None).status_code == 401
    assert post_360(app, body, secret="wrong").status_code == 401
    assert post_360(app, b"{not json").status_code == 400
    assert post_360(app, b"x" * (1024 * 1024 + 1)).status_code == 413
    shape = post_360(app, json.dumps({"object": "whatsapp_business_account", "entry": "nope"}).encode())
    assert shape.status_code == 422
    assert "entry" in shape.json()["path"]
    # Issue 13: an unknown channel id answers as a bad secret does (was 404: a channel-id oracle).
    assert app.http.post("/webhooks/nosuch", content=body).status_code == 401
    with app.rt.store.session() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert snapshot(app) == before


def test_meta_signed_webhooks_and_the_handshake(app: RunningApp) -> None:
    body = fixture_bytes("cloudapi-inbound-text.json")
    wrong = app.http.post(
        "/webhooks/meta",
        content=body,
        headers={"X-Hub-Signature-256": meta_signature(body, "not-the-secret")},
    )
    assert wrong.status_code == 401
    with app.rt.store.session() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    right = app.http.post(
        "/webhooks/meta", content=body, headers={"X-Hub-Signature-256": meta_signature(body)}
    )
    assert right.status_code == 200
    drain(app)
    assert snapshot(app)["events"]

    ok = app.http.get(
        "/webhooks/meta",
        params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"},
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    bad = app.http.get(
        "/webhooks/meta", params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
    )
    assert bad.status_code == 403


def test_a_delivery_acknowledged_before_a_crash_is_processed_at_the_next_start(
    tmp_path: Path, db_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.config import Settings
    from bot.core.webhooks import store_delivery
    from bot.runtime import build_runtime

    monkeypatch.setenv("E2E_D360_KEY", "d360-key")
    monkeypatch.setenv("E2E_D360_SECRET", SECRET)
    monkeypatch.setenv("E2E_META_TOKEN", "meta-token")
    monkeypatch.setenv("E2E_META_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("E2E_META_VERIFY", "verify-me")
    config = write_config(tmp_path, CONFIG)
    # The endpoint stored the body and answered 200; the process died before ingesting it.
    crashed = build_runtime(config, settings=Settings(database_url=db_url), clock=clock)
    store_delivery(crashed, "vendas", fixture_bytes("cloudapi-inbound-text.json"), clock())
    crashed.store.dispose()

    with running_app(config, db_url, clock) as app:
        drain(app)
        with app.rt.store.session() as session:
            kinds = [w.kind for w in session.scalars(select(Window))]
        assert kinds == ["customer_care"]
