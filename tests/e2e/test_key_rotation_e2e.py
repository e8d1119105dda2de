"""Issue 12: rotating a webhook secret without refused webhooks. While the variable holds two
comma-separated secrets (new, old), a webhook signed with either is accepted, anything else is
refused; once it holds only the new one, the old one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.store.models import WebhookDelivery
from tests.e2e.harness import Clock, running_app, write_config
from tests.e2e.test_webhooks_e2e import CONFIG, INBOUND_AT, fixture_bytes, meta_signature

OLD, NEW = "old-secret", "new-secret"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("E2E_D360_KEY", "d360-key")
    monkeypatch.setenv("E2E_META_TOKEN", "meta-token")
    monkeypatch.setenv("E2E_META_VERIFY", "verify-me")


def test_a_webhook_signed_with_either_of_two_rotating_secrets_is_accepted(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2E_D360_SECRET", f"{NEW}, {OLD}")
    monkeypatch.setenv("E2E_META_APP_SECRET", f"{NEW},{OLD}")
    body = fixture_bytes("cloudapi-inbound-text.json")
    with running_app(write_config(tmp_path, CONFIG), db_url, Clock(INBOUND_AT)) as app:

        def d360(secret: str) -> int:
            headers = {"Content-Type": "application/json", "X-Webhook-Secret": secret}
            return app.http.post("/webhooks/vendas", content=body, headers=headers).status_code

        def meta(secret: str) -> int:
            headers = {"X-Hub-Signature-256": meta_signature(body, secret)}
            return app.http.post("/webhooks/meta", content=body, headers=headers).status_code

        assert [d360(NEW), d360(OLD), d360("other"), d360(f"{NEW},{OLD}")] == [200, 200, 401, 401]
        assert [meta(NEW), meta(OLD), meta("other"), meta(f"{NEW},{OLD}")] == [200, 200, 401, 401]
        with app.rt.store.session() as session:
            assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 4


def test_after_the_switch_the_old_secret_is_refused(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2E_D360_SECRET", NEW)
    monkeypatch.setenv("E2E_META_APP_SECRET", NEW)
    body = fixture_bytes("cloudapi-inbound-text.json")
    with running_app(write_config(tmp_path, CONFIG), db_url, Clock(INBOUND_AT)) as app:
        headers = {"Content-Type": "application/json", "X-Webhook-Secret": OLD}
        assert app.http.post("/webhooks/vendas", content=body, headers=headers).status_code == 401
        signed = {"X-Hub-Signature-256": meta_signature(body, OLD)}
        assert app.http.post("/webhooks/meta", content=body, headers=signed).status_code == 401
