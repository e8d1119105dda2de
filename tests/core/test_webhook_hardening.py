"""Issue 13: webhooks accept only what can be stored, one bad event never loses its siblings, a
delivery that cannot be applied is retried a bounded number of times then parked."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.store.models import CustomerEvent, StatusEvent, WebhookDelivery

SECRET = "hard-secret"
CONFIG = """
teams:
  - id: t
    name: T
    members: [U1]
    channels: [vendas, meta, tw, gs]
channels:
  - id: vendas
    name: Vendas
    number: "+55 11 4000-0000"
    bsp: 360dialog
    base_url: http://127.0.0.1:9
    api_key_env: HARD_D360_KEY
    webhook_secret_env: HARD_D360_SECRET
  - id: meta
    name: Meta
    number: "+55 11 4000-0002"
    bsp: cloudapi
    base_url: http://127.0.0.1:9
    access_token_env: HARD_META_TOKEN
    app_secret_env: HARD_META_APP_SECRET
    verify_token_env: HARD_META_VERIFY
    waba_id: "102290129340398"
    phone_number_id: "106540352242922"
  - id: tw
    name: Twilio
    number: "+55 11 4000-0003"
    bsp: twilio
    base_url: http://127.0.0.1:9
    account_sid: AC123
    auth_token_env: HARD_TWILIO_TOKEN
    webhook_secret_env: HARD_TW_SECRET
    from_number: "+55 11 4000-0003"
  - id: gs
    name: Gupshup
    number: "+55 11 4000-0004"
    bsp: gupshup
    base_url: http://127.0.0.1:9
    app_id: app-1
    app_token_env: HARD_GS_TOKEN
    webhook_secret_env: HARD_GS_SECRET
"""
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_runtime(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A runtime on the config above (every provider), its clock fixed at NOW."""
    from bot.config import Settings
    from bot.runtime import build_runtime

    monkeypatch.setenv("HARD_D360_KEY", "k")
    monkeypatch.setenv("HARD_D360_SECRET", SECRET)
    for name in ("HARD_META_TOKEN", "HARD_META_APP_SECRET", "HARD_META_VERIFY", "HARD_TWILIO_TOKEN"):
        monkeypatch.setenv(name, "x-" + name.lower())
    monkeypatch.setenv("HARD_GS_TOKEN", "t")
    monkeypatch.setenv("HARD_GS_SECRET", SECRET)
    monkeypatch.setenv("HARD_TW_SECRET", SECRET)
    (tmp_path / "contato.yml").write_text(CONFIG)
    runtime = build_runtime(
        tmp_path / "contato.yml", settings=Settings(database_url=db_url), clock=Clock(NOW)
    )
    runtime.store.migrate()
    yield runtime
    runtime.store.dispose()


@pytest.fixture
def rt(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from make_runtime(db_url, tmp_path, monkeypatch)


def post(
    rt: Any, body: bytes | str, headers: dict[str, Any] | None = None, channel: str = "vendas"
) -> httpx.Response:
    from bot.app import build_asgi_app

    app = build_asgi_app(rt, None, with_scheduler=False)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post(
                f"/webhooks/{channel}",
                content=body,
                headers={"X-Webhook-Secret": SECRET, "Content-Type": "application/json", **(headers or {})},
            )

    return asyncio.run(go())


def message(message_id: str, at: int | str = 1772452800, **extra: Any) -> dict[str, Any]:
    return {
        "from": "5511987654321",
        "id": message_id,
        "timestamp": str(at),
        "type": "text",
        "text": {"body": "oi"},
        **extra,
    }


def envelope(
    *messages: dict[str, Any],
    statuses: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
) -> bytes:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "551140000000", "phone_number_id": "1"},
        "contacts": contacts or [{"profile": {"name": "Ana"}, "wa_id": "5511987654321"}],
        "messages": list(messages),
    }
    if statuses:
        value["statuses"] = statuses
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


def drain(rt: Any) -> None:
    from bot.core.webhooks import process_deliveries

    with rt.store.session() as session:
        ids = list(session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.processed_at.is_(None))))
    process_deliveries(rt, ids)


def refs(rt: Any) -> set[str]:
    with rt.store.session() as session:
        return set(session.scalars(select(CustomerEvent.ref)))


def test_a_nul_in_one_message_id_never_loses_its_valid_sibling(rt: Any) -> None:
    response = post(rt, envelope(message("wamid.MIXGOOD"), message("wamid.MIXBAD\u0000")))
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert [d["path"] for d in body["dropped"]] == ["entry[0].changes[0].value.messages[1].id"]
    drain(rt)
    assert refs(rt) == {"wamid.MIXGOOD"}
    with rt.store.session() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
        assert delivery.processed_at is not None and delivery.error is None


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "wamid." + "x" * 300},
        {"id": "wamid.\ud800"},
        {"from": "5511\u00009876"},
        {"from": "5" * 40},
        {"from_user_id": "BR." + "u" * 200},
        {"timestamp": "1000000000"},  # 2001: before WhatsApp Business existed
    ],
)
def test_values_the_store_cannot_keep_drop_their_event_alone(rt: Any, bad: dict[str, Any]) -> None:
    response = post(
        rt, envelope(message("wamid.GOOD"), message("wamid.BAD", **{**{"id": "wamid.BAD"}, **bad}))
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["dropped"]) == 1
    drain(rt)
    assert refs(rt) == {"wamid.GOOD"}


def test_long_or_dirty_names_are_cleaned_not_refused(rt: Any) -> None:
    contacts = [{"profile": {"name": "Ana\u0000 \ud83d" + "a" * 400}, "wa_id": "5511987654321"}]
    response = post(rt, envelope(message("wamid.NAME"), contacts=contacts))
    assert response.status_code == 200
    assert "dropped" not in response.json()
    drain(rt)
    from bot.store.models import Contact

    with rt.store.session() as session:
        name = session.scalars(select(Contact.name)).one()
    assert name is not None and name.startswith("Ana a") and len(name) == 256 and "\u0000" not in name


def test_statuses_over_the_column_are_dropped(rt: Any) -> None:
    statuses = [
        {"id": "wamid.S1", "status": "delivered", "timestamp": "1772452800", "recipient_id": "5511987654321"},
        {"id": "wamid.S2", "status": "d" * 17, "timestamp": "1772452800", "recipient_id": "5511987654321"},
    ]
    response = post(rt, envelope(statuses=statuses))
    assert response.status_code == 200
    assert [d["path"] for d in response.json()["dropped"]] == ["entry[0].changes[0].value.statuses[1].status"]
    drain(rt)
    with rt.store.session() as session:
        assert set(session.scalars(select(StatusEvent.message_id))) == {"wamid.S1"}


def test_future_timestamps_are_clamped_to_receipt_time(rt: Any) -> None:
    two_hours = int((NOW + timedelta(hours=2)).timestamp())
    post(rt, envelope(message("wamid.FUTURE", at=two_hours), message("wamid.Y9999", at=253402300799999)))
    drain(rt)
    with rt.store.session() as session:
        ats = dict(session.execute(select(CustomerEvent.ref, CustomerEvent.at)).all())
    assert ats == {"wamid.FUTURE": NOW, "wamid.Y9999": NOW}


def test_a_small_skew_is_kept(rt: Any) -> None:
    ahead = int((NOW + timedelta(minutes=3)).timestamp())
    post(rt, envelope(message("wamid.SKEW", at=ahead)))
    drain(rt)
    with rt.store.session() as session:
        at = session.scalars(select(CustomerEvent.at)).one()
    assert at == NOW + timedelta(minutes=3)


def test_mixgood_body_keeps_its_valid_event(rt: Any) -> None:
    """The issue's repro as filed: 200, then `customer_events` must hold wamid.MIXGOOD."""
    assert post(rt, envelope(message("wamid.MIXGOOD"), message("wamid.MIXBAD\u0000"))).status_code == 200
    drain(rt)
    assert "wamid.MIXGOOD" in refs(rt)


def test_a_delivery_that_keeps_failing_is_parked_then_replayed_after_a_fix(
    rt: Any,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sqlalchemy.exc import OperationalError

    from bot.cli import main
    from bot.core import webhooks
    from bot.store import deliveries
    from bot.store import events as event_rows

    real_insert = event_rows.insert_customer_events

    def failing_insert(session: Any, rows: Any) -> list[str]:
        # A fault below ingestion (the database refusing one row), not in the code under test.
        if any(row["ref"] == "wamid.BOOM" for row in rows):
            raise OperationalError("INSERT ... 5511987654321", {"wa_id": "5511987654321"}, Exception("boom"))
        return real_insert(session, rows)

    monkeypatch.setattr(event_rows, "insert_customer_events", failing_insert)
    assert post(rt, envelope(message("wamid.OK"), message("wamid.BOOM"))).status_code == 200
    with rt.store.session() as session:
        (delivery_id,) = deliveries.unprocessed_ids(session)
    with caplog.at_level("DEBUG"):
        for attempt in range(1, webhooks.MAX_ATTEMPTS + 1):
            webhooks.process_deliveries(rt, [delivery_id])
            assert refs(rt) == {"wamid.OK"}  # the sibling is applied from the first attempt on
            with rt.store.session() as session:
                row = deliveries.delivery_state(session, delivery_id)
                assert row is not None and row.attempts == attempt and row.processed_at is None
                assert "5511987654321" not in (row.error or "") and "OperationalError" in (row.error or "")
                parked = row.failed_at is not None
                retry_at = row.next_attempt_at
            assert parked == (attempt == webhooks.MAX_ATTEMPTS)
            if not parked:
                assert retry_at == NOW + webhooks.RETRY_BACKOFF * 2 ** (attempt - 1)
    assert "5511987654321" not in caplog.text
    with rt.store.session() as session:
        assert deliveries.unprocessed_ids(session) == []  # not picked up again at every start
        assert deliveries.delivery_ids(session, failed=True) == [delivery_id]

    monkeypatch.setattr(event_rows, "insert_customer_events", real_insert)  # the fix
    monkeypatch.setenv("DATABASE_URL", db_url)
    code = main(
        ["--config", str(tmp_path / "contato.yml"), "webhook", "replay", "--delivery", str(delivery_id)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert json.loads(out)["changes"]["customer_messages"] == 1  # wamid.OK was already in
    assert refs(rt) == {"wamid.OK", "wamid.BOOM"}
    with rt.store.session() as session:
        row = deliveries.delivery_state(session, delivery_id)
        assert row is not None and row.processed_at is not None and row.failed_at is None


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Webhook-Secret": "s\u00e9cret"},
        {"X-Webhook-Secret": "\u00ff" * 10},
    ],
)
def test_odd_secret_headers_are_401_not_500(rt: Any, headers: dict[str, str]) -> None:
    encoded = {k: v.encode("latin-1") for k, v in headers.items()}
    assert post(rt, envelope(message("wamid.X")), encoded).status_code == 401  # type: ignore[arg-type]


def test_webhook_content_type_is_checked_after_authentication(rt: Any) -> None:
    body = envelope(message("wamid.CT"))
    assert post(rt, body, {"Content-Type": "text/html"}).status_code == 415
    assert post(rt, body, {"Content-Type": "text/html", "X-Webhook-Secret": "wrong"}).status_code == 401
    assert post(rt, body, {"Content-Type": "application/json; charset=utf-8"}).status_code == 200


@pytest.mark.parametrize(
    ("channel", "header"),
    [("meta", "X-Hub-Signature-256"), ("tw", "X-Twilio-Signature"), ("vendas", "X-Webhook-Secret")],
)
def test_non_ascii_signature_headers_are_401_not_500(rt: Any, channel: str, header: str) -> None:
    value = "sha256=\u00e9\u00e9".encode("latin-1")
    content_type = "application/x-www-form-urlencoded" if channel == "tw" else "application/json"
    response = post(
        rt,
        envelope(message("wamid.X")),
        {"X-Webhook-Secret": "wrong", header: value, "Content-Type": content_type},
        channel,
    )
    assert response.status_code == 401


FIXTURE_BODIES = [p.read_bytes() for p in sorted(Path(__file__).parents[1].glob("fixtures/whatsapp/*.json"))]
nasty_text = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=300
)
json_leaf = st.none() | st.booleans() | st.integers() | nasty_text | st.floats(allow_nan=False)


def _mutate(value: Any, path: list[int], replacement: Any) -> Any:
    if not path:
        return replacement
    if isinstance(value, dict) and value:
        key = list(value)[path[0] % len(value)]
        return {**value, key: _mutate(value[key], path[1:], replacement)}
    if isinstance(value, list) and value:
        index = path[0] % len(value)
        return [_mutate(v, path[1:], replacement) if i == index else v for i, v in enumerate(value)]
    return replacement


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fixture=st.sampled_from(range(len(FIXTURE_BODIES))),
    path=st.lists(st.integers(min_value=0, max_value=50), max_size=8),
    replacement=json_leaf,
    channel=st.sampled_from(["vendas", "meta", "tw", "gs", "nosuch"]),
    header_name=st.sampled_from(
        ["X-Webhook-Secret", "X-Hub-Signature-256", "X-Twilio-Signature", "Content-Type"]
    ),
    header_value=st.binary(max_size=40),
)
def test_arbitrary_json_and_header_bytes_never_500_and_what_is_stored_applies(
    rt: Any,
    fixture: int,
    path: list[int],
    replacement: Any,
    channel: str,
    header_name: str,
    header_value: bytes,
) -> None:
    body = json.dumps(_mutate(json.loads(FIXTURE_BODIES[fixture]), path, replacement)).encode()
    headers: dict[str, Any] = {}
    if channel == "meta":  # signed with the app secret, so the body reaches the parser
        digest = hmac.new(b"x-hard_meta_app_secret", body, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    headers[header_name] = header_value.replace(b"\r", b"").replace(b"\n", b"")
    try:
        response = post(rt, body, headers, channel)
    except httpx.LocalProtocolError:
        return  # a header value httpx refuses to send
    assert response.status_code < 500, response.text
    drain(rt)
    with rt.store.session() as session:
        failing = session.scalars(select(WebhookDelivery).where(WebhookDelivery.processed_at.is_(None))).all()
        assert [(row.id, row.error) for row in failing] == []


@pytest.mark.parametrize("newest_first", [True, False])
def test_the_newest_event_names_the_contact_whatever_the_arrival_order(rt: Any, newest_first: bool) -> None:
    from bot.store.models import Contact

    # The same Brazilian mobile, reported with and without the 9th digit, under two names.
    newer = envelope(
        {**message("wamid.N2", at=1772452800), "from": "5511987654321"},
        contacts=[{"profile": {"name": "Ana Nova"}, "wa_id": "5511987654321"}],
    )
    older = envelope(
        {**message("wamid.N1", at=1772449200), "from": "551187654321"},
        contacts=[{"profile": {"name": "Ana Velha"}, "wa_id": "551187654321"}],
    )
    for body in [newer, older] if newest_first else [older, newer]:
        post(rt, body)
        drain(rt)
    with rt.store.session() as session:
        contact = session.scalars(select(Contact)).one()
        assert (contact.name, contact.wa_id) == ("Ana Nova", "5511987654321")


@pytest.mark.parametrize("query", ["\u0000", "Ana\u0000", "\ud800", "\u0000\u0000"])
def test_contact_search_is_safe_for_any_unicode(rt: Any, query: str) -> None:
    from bot.store import contacts

    post(rt, envelope(message("wamid.S")))
    drain(rt)
    with rt.store.session() as session:
        found = [c.name for c in contacts.search_contacts(session, query)]
    assert found == (["Ana"] if query.startswith("Ana") else [])


def test_dropped_and_clamped_events_are_counted_in_the_metrics(rt: Any) -> None:
    from bot import metrics

    def counted(action: str) -> float:
        value = metrics.REGISTRY.get_sample_value(
            "contato_webhook_events_screened_total", {"channel": "vendas", "action": action}
        )
        return value or 0.0

    dropped, clamped = counted("dropped"), counted("clamped")
    two_hours = int((NOW + timedelta(hours=2)).timestamp())
    body = envelope(message("wamid.OK", at=two_hours), message("wamid.BAD\u0000"))
    assert post(rt, body).json()["dropped"] == [
        {
            "path": "entry[0].changes[0].value.messages[1].id",
            "problem": "contains a control character or a lone surrogate",
        }
    ]
    assert (counted("dropped") - dropped, counted("clamped") - clamped) == (1, 1)


def test_webhook_urls_the_route_does_not_match_are_still_the_routers(rt: Any) -> None:
    """POSTs to /webhooks/{id} go straight to the endpoint; any other path under /webhooks/ is
    still answered by the router (404), never read as a channel id."""
    assert post(rt, envelope(message("wamid.FAST1"))).status_code == 200
    assert post(rt, envelope(message("wamid.FAST2")), channel="vendas/extra").status_code == 404
    assert post(rt, envelope(message("wamid.FAST3")), channel="").status_code == 404
    with rt.store.session() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_request_ids_made_up_for_requests_without_one_are_distinct() -> None:
    from bot.app import RequestIds

    ids, other_process = RequestIds(), RequestIds()
    made = [ids.next() for _ in range(1000)] + [other_process.next()]
    assert len(set(made)) == len(made)
    assert all(len(made_id) == 16 and int(made_id, 16) >= 0 for made_id in made)
