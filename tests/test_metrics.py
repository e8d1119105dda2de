"""bot.metrics: the separate metrics port, its token, and BSP outcomes by error code."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from bot import metrics
from bot.bsp.base import BspError
from bot.cli import main
from bot.store.db import Store
from tests.e2e.fake_slack import free_port

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)


def get(url: str, **kwargs: object) -> httpx.Response:
    deadline = time.monotonic() + 10
    while True:
        try:
            return httpx.get(url, timeout=5, **kwargs)  # type: ignore[arg-type]
        except httpx.ConnectError:
            assert time.monotonic() < deadline, "the metrics server did not start"
            time.sleep(0.05)


@pytest.mark.parametrize("token", [None, "scrape-me"])
def test_the_metrics_port_serves_metrics_and_honours_the_token(store: Store, token: str | None) -> None:
    port = free_port()
    server = metrics.serve_in_thread(store, lambda: NOW, "127.0.0.1", port, token)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        if token is None:
            response = get(url)
        else:
            assert get(url).status_code == 401
            assert get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
            response = get(url, headers={"Authorization": f"Bearer {token}"})
    finally:
        server.should_exit = True
    assert response.status_code == 200
    assert "contato_webhook_deliveries_waiting 0.0" in response.text
    assert "contato_webhook_oldest_waiting_seconds 0.0" in response.text


async def test_a_bsp_call_is_counted_by_its_error_code() -> None:
    def count(outcome: str) -> float:
        labels = {"provider": "360dialog", "operation": "list_templates", "outcome": outcome}
        return metrics.REGISTRY.get_sample_value("contato_bsp_calls_total", labels) or 0.0

    before = count("invalid_api_key")
    with pytest.raises(BspError), metrics.bsp_call("360dialog", "list_templates"):
        raise BspError("invalid_api_key", "Invalid api key")
    assert count("invalid_api_key") == before + 1


def test_a_metrics_port_out_of_range_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--metrics-port", "99999"])
    assert exit_.value.code == 2
    assert "99999 is out of range (valid ports: 1-65535)" in capsys.readouterr().err


def test_the_sample_dashboard_graphs_only_metrics_the_app_exports() -> None:
    import json
    import re
    from pathlib import Path

    dashboard = json.loads(
        (Path(__file__).resolve().parents[1] / "deploy" / "grafana-dashboard.json").read_text()
    )
    used = {
        re.sub(r"_(bucket|count|sum)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"contato_[a-z_]+", target["expr"])
    }
    exported = {metric.name for metric in metrics.REGISTRY.collect()}
    exported |= {f"{name}_total" for name in exported}  # counters are collected without _total
    assert used and used <= exported
