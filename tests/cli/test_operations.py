"""Issue 12, day two: `prune` removes what it says and nothing unprocessed; `alerts` and
`webhooks` answer "why wasn't it sent?" without SQL. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.cli import main
from bot.core.alerts import run_scan
from bot.store import deliveries
from bot.store.db import Store
from bot.store.models import CustomerEvent, OutboundMessage, SandboxSend, WebhookDelivery
from tests.core.test_alerts import NOW, add_contact, add_outbound, make_rt, set_window
from tests.e2e.fake_slack import Failure, FakeSlack

# prune reads the real clock (rt.now()): rows are placed far enough on either side of the cut-off.
OLD = datetime.now(UTC) - timedelta(days=400)
RECENT = datetime.now(UTC) - timedelta(days=2)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(tmp_path: Path, store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_rt(tmp_path, store)  # writes tmp_path/contato.yml
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return tmp_path / "contato.yml"


def seed_deliveries(store: Store) -> dict[str, int]:
    with store.session() as session:
        ids = {
            "old_processed": deliveries.insert_delivery(session, "loja", b'{"old": 1}', OLD),
            "old_unprocessed": deliveries.insert_delivery(session, "loja", b'{"old": 2}', OLD),
            "old_failed": deliveries.insert_delivery(session, "loja", b'{"old": 3}', OLD),
            "recent_processed": deliveries.insert_delivery(session, "loja", b'{"new": 1}', RECENT),
        }
        deliveries.mark_processed(session, [ids["old_processed"], ids["recent_processed"]], OLD)
        deliveries.mark_error(session, ids["old_failed"], "ValueError: bad body")
    return ids


def test_prune_removes_processed_bodies_and_old_texts_never_unprocessed_ones(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = seed_deliveries(store)
    contact = add_contact(store, "+5511900000501")
    for at in (OLD, RECENT):
        add_outbound(
            store,
            "loja",
            contact,
            "vendas",
            "UVENDAS",
            at,
            text="Olá Maria, pedido 123",
            parameters={"body.1": "Maria"},
            status="read",
        )
    with store.session() as session:
        by_age = select(OutboundMessage.id).order_by(OutboundMessage.created_at)
        old_send, recent_send = session.scalars(by_age)
        session.add(
            CustomerEvent(
                channel_id="loja",
                contact_id=contact,
                kind="customer",
                ref="wamid.OLD",
                at=OLD,
                data={"referral": {"headline": "Promo"}},
            )
        )
        session.add(
            SandboxSend(
                channel_id="loja",
                to="+5511900000501",
                kind="text",
                payload={"text": "x"},
                message_id="wamid.SANDBOX.OLD",
                created_at=OLD,
            )
        )

    code, out, err = run(capsys, "prune", "--older-than", "30d", "--config", str(config), "--json")

    assert (code, err) == (0, "")
    assert json.loads(out) == {"webhook_bodies": 1, "message_texts": 1, "referrals": 1, "sandbox_sends": 1}
    with store.session() as session:
        kept = set(session.scalars(select(WebhookDelivery.id)))
        assert kept == {ids["old_unprocessed"], ids["old_failed"], ids["recent_processed"]}
        old = session.get(OutboundMessage, old_send)
        recent = session.get(OutboundMessage, recent_send)
        assert old is not None and (old.text, old.parameters, old.status) == (None, None, "read")
        assert recent is not None and recent.text == "Olá Maria, pedido 123"
        assert recent.parameters == {"body.1": "Maria"}
        event = session.scalar(select(CustomerEvent).where(CustomerEvent.ref == "wamid.OLD"))
        assert event is not None and event.data is None and event.kind == "customer"  # the fact stays
        assert session.scalar(select(SandboxSend)) is None

    # Again: nothing left to remove. From the config's retention (30 days of webhooks by default).
    code, out, _ = run(capsys, "prune", "--config", str(config), "--json")
    assert (code, json.loads(out)) == (
        0,
        {"webhook_bodies": 0, "message_texts": 0, "referrals": 0, "sandbox_sends": 0},
    )


def test_prune_refuses_an_age_it_cannot_read(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "prune", "--older-than", "a month", "--config", str(config))
    assert code == 2 and out == ""
    assert err == "contato-bot prune: --older-than 'a month' is not an age (e.g. 30d or 12h).\n"


def test_webhooks_failed_lists_the_deliveries_that_could_not_be_applied(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = seed_deliveries(store)

    code, out, _ = run(capsys, "webhooks", "--failed", "--json", "--config", str(config))
    assert code == 0
    [line] = [json.loads(x) for x in out.splitlines()]
    assert (line["id"], line["channel"], line["error"]) == (ids["old_failed"], "loja", "ValueError: bad body")
    assert line["why"] == "não pôde ser aplicada: ValueError: bad body"

    code, out, _ = run(capsys, "webhooks", "--config", str(config))
    assert code == 0
    assert [x.split()[0] for x in out.splitlines()] == [f"#{ids['old_unprocessed']}", f"#{ids['old_failed']}"]
    assert "aguardando ingestão" in out.splitlines()[0]


async def test_alerts_failed_says_to_invite_the_app_to_the_channel(
    config: Path, tmp_path: Path, store: Store, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    rt = make_rt(tmp_path, store)
    client = AsyncWebClient(token="xoxb-test", base_url=slack.url)
    refused = add_contact(store, "+5511900000601")
    waiting = add_contact(store, "+5511900000602")
    set_window(store, "loja", refused, "customer_care", NOW + timedelta(minutes=30))
    slack.fail_next("chat.postMessage", Failure(200, {"ok": False, "error": "not_in_channel"}))
    await run_scan(rt, client, now=NOW)
    set_window(store, "sac", waiting, "customer_care", NOW + timedelta(minutes=100))
    slack.fail_next("chat.postMessage", Failure(500))
    await run_scan(rt, client, now=NOW + timedelta(seconds=1))

    code, out, _ = run(capsys, "alerts", "--failed", "--json", "--config", str(config))
    assert code == 0
    lines = {row["slack_channel"]: row for row in map(json.loads, out.splitlines())}
    assert set(lines) == {"CVENDAS", "CSUPORTE"}
    vendas = lines["CVENDAS"]
    assert (vendas["state"], vendas["last_error"], vendas["attempts"]) == ("pending", "not_in_channel", 1)
    assert "convide o app para #CVENDAS" in vendas["why"]
    assert vendas["contact"] != "+5511900000601" and vendas["contact"].endswith("0601")  # masked

    code, out, _ = run(capsys, "alerts", "--pending", "--config", str(config))
    assert code == 0 and len(out.splitlines()) == 2
    assert "o Slack recusou (not_in_channel) em 1 tentativa(s)" in out


def test_serve_prunes_by_the_config_at_start(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduled default: `retention.webhook_days` applied by the running app, by its clock."""
    import time

    from tests.e2e.harness import Clock, running_app, write_config
    from tests.e2e.test_after_send_e2e import CONFIG, SECRET

    monkeypatch.setenv("E2E_SANDBOX_SECRET", SECRET)
    store = Store.from_url(db_url)
    store.migrate()
    with store.session() as session:
        processed = deliveries.insert_delivery(session, "sandbox", b"{}", NOW - timedelta(days=31))
        failed = deliveries.insert_delivery(session, "sandbox", b"not json", NOW - timedelta(days=31))
        recent = deliveries.insert_delivery(session, "sandbox", b"{}", NOW - timedelta(days=29))
        deliveries.mark_processed(session, [processed, recent], NOW - timedelta(days=29))
    config = write_config(tmp_path, CONFIG.replace("alerts:", "retention:\n  webhook_days: 30\nalerts:"))
    with running_app(config, db_url, Clock(NOW), with_scheduler=True):
        deadline = time.monotonic() + 10
        while True:
            with store.session() as session:
                left = set(session.scalars(select(WebhookDelivery.id)))
            if processed not in left:
                break
            assert time.monotonic() < deadline, "the old processed delivery was not pruned"
            time.sleep(0.05)
    assert left == {failed, recent}
    store.dispose()
