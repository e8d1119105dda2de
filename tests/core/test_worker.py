"""Issue 14: `contato-bot worker` drains what `serve` stored, in processes of their own. Real
`serve` and `worker` processes on one database; only Slack is fake. On PostgreSQL any number of
workers share the queue, and a worker killed with SIGKILL mid-batch loses nothing and applies
nothing twice."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from bot.store import contacts, deliveries, outbound
from bot.store.db import Store
from bot.store.models import CustomerEvent, OutboundMessage, StatusEvent, WebhookDelivery
from tests.e2e.fake_slack import FakeSlack, free_port
from tests.serve_process import checkout_env, contato_bot, wait_until_serving

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
    webhook_secret_env: WORKER_SECRET
"""
SECRET = "w0rker"
CONFIRMATION = ("DAGENT", "1700000000.000001")


def envelope(messages: Sequence[dict[str, Any]] = (), statuses: Sequence[dict[str, Any]] = ()) -> bytes:
    """A Meta envelope, as the sandbox channel receives it."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "551140000000", "phone_number_id": "1"},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5511987654321"}],
        "messages": list(messages),
        "statuses": list(statuses),
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


def message(message_id: str, at: datetime, sender: str = "5511987654321") -> dict[str, Any]:
    return {
        "from": sender,
        "id": message_id,
        "timestamp": str(int(at.timestamp())),
        "type": "text",
        "text": {"body": "oi"},
    }


def bodies(count: int, per_body: int, at: datetime) -> list[bytes]:
    """`count` deliveries of `per_body` distinct customer messages each, one customer each."""
    return [
        envelope([message(f"wamid.W{i}.{j}", at, f"55119{i:08d}") for j in range(per_body)])
        for i in range(count)
    ]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "contato.yml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def environment(database_url: str, slack: FakeSlack, **extra: str) -> dict[str, str]:
    return checkout_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-worker",
            "SLACK_SIGNING_SECRET": "signing",
            "SLACK_API_URL": slack.url,
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "INFO",
            "WORKER_SECRET": SECRET,
            **extra,
        }
    )


def worker(config: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*contato_bot(), "--config", str(config), "worker", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def worker_once(config: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    process = worker(config, env, "--once", *args)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    summary: dict[str, Any] = json.loads(out)
    return summary


def store_bodies(store: Store, raws: Sequence[bytes], now: datetime) -> list[int]:
    with store.session() as session:
        return deliveries.insert_deliveries(session, [("sandbox", raw) for raw in raws], now)


def counts(store: Store) -> tuple[int, int, int]:
    """(customer messages stored, deliveries processed, deliveries not processed)."""
    with store.session() as session:
        messages = session.scalar(select(func.count()).select_from(CustomerEvent)) or 0
        done = session.scalar(
            select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.processed_at.is_not(None))
        )
        waiting = session.scalar(
            select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.processed_at.is_(None))
        )
    return messages, done or 0, waiting or 0


def migrated(database_url: str) -> Store:
    store = Store.from_url(database_url)
    store.migrate()
    return store


def seed_a_confirmed_send(store: Store, now: datetime) -> int:
    """A template the agent sent (BSP message id wamid.OUT), its confirmation in the agent's DM."""
    with store.session() as session:
        contact = contacts.upsert_contact(session, e164="+5511987654321", now=now)
        row, _ = outbound.create_outbound(
            session,
            idempotency_key="seed",
            channel_id="sandbox",
            contact_id=contact.id,
            agent_user_id="UAGENT",
            team_id="suporte",
            kind="template",
            category="utility",
            template_name="pedido_enviado",
            language="pt_BR",
            parameters={},
            text=None,
            status="pending",
            charge=None,
            estimated_price=None,
            currency=None,
            now=now,
        )
        outbound.mark_send_accepted(session, row.id, "wamid.OUT", "5511987654321", now)
        outbound.set_confirmation(session, row.id, *CONFIRMATION)
        return row.id


def test_serve_ingest_off_only_stores_and_a_worker_drains_and_redraws(
    config: Path, db_url: str, slack: FakeSlack
) -> None:
    now = datetime.now(UTC)
    store = migrated(db_url)
    outbound_id = seed_a_confirmed_send(store, now)
    env = environment(db_url, slack)
    port = free_port()
    serve = subprocess.Popen(
        [*contato_bot(), "--config", str(config), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "CONTATO_INGEST": "off"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_serving(port, serve)
        delivered = {"id": "wamid.OUT", "status": "delivered", "timestamp": str(int(now.timestamp())),
                     "recipient_id": "5511987654321"}  # fmt: skip
        answer = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/sandbox",
            content=envelope([message("wamid.IN", now)], [delivered]),
            headers={"Content-Type": "application/json", "X-Webhook-Secret": SECRET},
        )
        assert answer.status_code == 200
        time.sleep(2)  # longer than any drainer's poll: an ingesting serve would have applied it
        assert counts(store) == (0, 0, 1)
    finally:
        serve.terminate()
        serve.wait(timeout=15)

    summary = worker_once(config, env)
    assert summary["processed"] == 1 and summary["failed"] == 0 and summary["events"] == 2
    assert summary["waiting"] == 0
    assert counts(store) == (1, 1, 0)
    with store.session() as session:
        assert session.get(OutboundMessage, outbound_id).status == "delivered"  # type: ignore[union-attr]
    (update,) = slack.of("chat.update")
    assert (update.args["channel"], update.args["ts"]) == CONFIRMATION
    assert summary["cpu_seconds"] >= 0
    assert summary["seconds"] > 0
    assert summary["events_per_s"] == pytest.approx(2 / summary["seconds"], rel=0.02)
    assert summary["started_at"].startswith(str(now.year))
    again = worker_once(config, env)
    assert again["batches"] == again["processed"] == again["events"] == again["waiting"] == 0
    store.dispose()


def test_worker_without_a_bot_token_says_so(
    config: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert main(["--config", str(config), "worker", "--once"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("contato-bot worker: missing SLACK_BOT_TOKEN in the environment")
    assert err.count("\n") == 1


def stopped_totals(process: subprocess.Popen[bytes]) -> dict[str, Any]:
    """SIGTERM, then the totals the worker logged as it stopped (exit 0)."""
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()
    found = re.search(r"worker stopped: (\{.*\})", err.decode())
    assert found is not None, err.decode()
    totals: dict[str, Any] = json.loads(found.group(1))
    return totals


def wait_for_log(process: subprocess.Popen[bytes], words: str, timeout: float = 60) -> None:
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    for line in process.stderr:
        if words in line.decode():
            return
        assert time.monotonic() < deadline, f"no {words!r} in the worker's log"
    raise AssertionError(f"the worker exited before logging {words!r}")


def test_two_workers_share_the_queue_without_applying_anything_twice(
    config: Path, pg_url: str, slack: FakeSlack
) -> None:
    store = migrated(pg_url)
    env = environment(pg_url, slack)
    workers = [worker(config, env, "--batch", "8") for _ in range(2)]
    for process in workers:
        wait_for_log(process, "worker started")
    now = datetime.now(UTC)
    count, per_body = 400, 5
    store_bodies(store, bodies(count, per_body, now), now)
    deadline = time.monotonic() + 120
    while counts(store)[2] and time.monotonic() < deadline:
        time.sleep(0.2)
    totals = [stopped_totals(process) for process in workers]
    assert counts(store) == (count * per_body, count, 0)
    # Each delivery was applied by exactly one worker, and both took part.
    assert sum(t["processed"] for t in totals) == count
    assert sum(t["events"] for t in totals) == count * per_body
    assert all(t["processed"] > 0 for t in totals), totals
    store.dispose()


def locked_deliveries(store: Store) -> int:
    """Deliveries not processed whose rows another transaction holds (a worker's batch in flight)."""
    with store.engine.connect() as connection:
        waiting = connection.scalar(
            text("SELECT count(*) FROM webhook_deliveries WHERE processed_at IS NULL")
        )
        free = connection.scalar(
            text(
                "SELECT count(*) FROM (SELECT id FROM webhook_deliveries WHERE processed_at IS NULL "
                "FOR UPDATE SKIP LOCKED) AS free"
            )
        )
        connection.rollback()
    return int(waiting or 0) - int(free or 0)


def test_a_worker_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
    config: Path, pg_url: str, slack: FakeSlack
) -> None:
    store = migrated(pg_url)
    env = environment(pg_url, slack)
    now = datetime.now(UTC)
    count, per_body, batch = 600, 10, 150
    store_bodies(store, bodies(count, per_body, now), now)

    first = worker(config, env, "--batch", str(batch))
    # Killed once it has committed a batch and holds the next one, uncommitted.
    deadline = time.monotonic() + 120
    while not (counts(store)[1] >= batch and locked_deliveries(store) > 0):
        assert first.poll() is None, first.communicate()[1].decode()
        assert time.monotonic() < deadline, "the worker never held a batch"
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=15)

    messages, done, waiting = counts(store)
    assert done % batch == 0 and 0 < done < count  # only whole batches were committed...
    assert messages == done * per_body  # ...with exactly their own events, and none of the next
    assert locked_deliveries(store) == 0  # the killed batch's locks went with its connection

    summary = worker_once(config, env, "--batch", str(batch))
    assert summary["processed"] == waiting and summary["failed"] == 0
    assert summary["events"] == waiting * per_body
    assert counts(store) == (count * per_body, count, 0)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(StatusEvent)) == 0
        attempts = session.scalars(select(WebhookDelivery.attempts).distinct()).all()
    assert attempts == [0]  # the kill is not counted as a failure of the deliveries
    store.dispose()


def test_worker_metrics_port_counts_what_it_ingested(config: Path, sqlite_url: str, slack: FakeSlack) -> None:
    store = migrated(sqlite_url)
    now = datetime.now(UTC)
    store_bodies(store, bodies(2, 5, now), now)
    port = free_port()
    process = worker(config, environment(sqlite_url, slack), "--metrics-port", str(port))
    try:
        deadline = time.monotonic() + 60
        while counts(store)[2] and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1].decode()
            time.sleep(0.1)
        while True:
            try:
                scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "no /metrics on the worker's --metrics-port"
                time.sleep(0.2)
    finally:
        totals = stopped_totals(process)
    assert 'contato_ingested_events_total{channel="sandbox"} 10.0' in scraped
    assert "contato_webhook_deliveries_waiting 0.0" in scraped
    assert totals["processed"] == 2
    store.dispose()


def test_serve_ingesting_in_process_and_a_worker_share_the_queue(
    config: Path, pg_url: str, slack: FakeSlack
) -> None:
    store = migrated(pg_url)
    env = environment(pg_url, slack, METRICS_TOKEN="scrape")
    port = free_port()
    serve = subprocess.Popen(
        [*contato_bot(), "--config", str(config), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "CONTATO_INGEST": "in-process"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    process = worker(config, env, "--batch", "4")
    try:
        wait_until_serving(port, serve)
        wait_for_log(process, "worker started")
        now = datetime.now(UTC)
        count, per_body = 120, 5
        headers = {"Content-Type": "application/json", "X-Webhook-Secret": SECRET}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for body in bodies(count, per_body, now):
                assert client.post("/webhooks/sandbox", content=body, headers=headers).status_code == 200
        deadline = time.monotonic() + 120
        while counts(store)[2] and time.monotonic() < deadline:
            time.sleep(0.2)
        scraped = httpx.get(
            f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer scrape"}
        ).text
        found = re.search(r'contato_ingested_events_total\{channel="sandbox"\} ([0-9.]+)', scraped)
        by_serve = float(found.group(1)) if found else 0.0
    finally:
        totals = stopped_totals(process)
        serve.terminate()
        serve.wait(timeout=15)
    assert counts(store) == (count * per_body, count, 0)
    # Every event was applied once, by one of the two processes.
    assert by_serve + totals["events"] == count * per_body
    store.dispose()
