"""Issue 12, end to end: after webhooks, a /contato, an alert and a delivery left waiting,
`GET /metrics` (bearer token) shows each of them in Prometheus' text format."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.store import deliveries
from tests.e2e.harness import Clock, RunningApp
from tests.e2e.test_after_send_e2e import (
    CUSTOMER,
    NOW,
    SECRET,
    customer_writes,
    start,
    status_webhook,
    wait_until,
)

TOKEN = "metrics-token-e2e"


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def app(tmp_path: Path, db_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningApp]:
    monkeypatch.setenv("E2E_SANDBOX_SECRET", SECRET)
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    with start(tmp_path, db_url, clock, with_scheduler=True) as running:
        yield running


def samples(app: RunningApp) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = app.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(
        value
        for (sample, sample_labels), value in found.items()
        if sample == name and set(labels.items()) <= set(sample_labels)
    )


def test_metrics_after_an_end_to_end_run(app: RunningApp) -> None:
    customer_writes(app, NOW - timedelta(hours=23, minutes=30))  # closes in 30 min: an alert
    wait_until(lambda: any(c.args.get("channel") == "CSUPERVISORS" for c in app.slack.of("chat.postMessage")))

    app.command(CUSTOMER)
    app.slack.wait_for("views.open")

    headers = {"X-Webhook-Secret": SECRET, "Content-Type": "application/json"}
    body = status_webhook("wamid.UNKNOWN", "delivered", NOW)
    assert app.http.post("/webhooks/sandbox", content=body, headers=headers).status_code == 200
    refused = {**headers, "X-Webhook-Secret": "wrong"}
    assert app.http.post("/webhooks/sandbox", content=body, headers=refused).status_code == 401
    # A delivery stored five minutes ago and not ingested yet: it failed once and waits for its
    # retry (the clock stands still, so it stays waiting; a due one the drainer would take at once).
    with app.rt.store.session() as session:
        waiting = deliveries.insert_delivery(session, "sandbox", body, NOW - timedelta(minutes=5))
        deliveries.record_failure(
            session, waiting, "OperationalError", NOW, max_attempts=5, backoff=timedelta(seconds=30)
        )

    assert app.http.get("/metrics").status_code == 401  # the token is required
    wait_until(lambda: total(samples(app), "contato_ingested_events_total", channel="sandbox") >= 1)
    found = samples(app)

    webhooks = "contato_webhooks_total"
    assert total(found, webhooks, channel="sandbox", provider="sandbox", result="accepted") >= 1
    assert total(found, webhooks, channel="sandbox", result="unauthenticated") >= 1
    assert total(found, "contato_slack_calls_total", method="views.open", error="ok") >= 1
    assert total(found, "contato_slack_calls_total", method="chat.postMessage", error="ok") >= 1
    assert total(found, "contato_alerts_total", outcome="claimed") >= 1
    assert total(found, "contato_alerts_total", outcome="posted") >= 1
    assert total(found, "contato_command_to_view_seconds_count") >= 1
    assert total(found, "contato_webhook_deliveries_waiting") >= 1
    assert total(found, "contato_webhook_oldest_waiting_seconds") == 300
    assert ("contato_alerts_pending", ()) in found
    bsp = {"provider": "sandbox", "operation": "list_templates"}  # the screen's template cache
    assert total(found, "contato_bsp_calls_total", outcome="ok", **bsp) >= 1
    assert total(found, "contato_bsp_call_seconds_count", **bsp) >= 1
