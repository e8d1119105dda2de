"""Ingestion: provider events -> rows, on SQLite and PostgreSQL, from the real fixtures."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.bsp.base import (
    InboundMessage,
    NumberChanged,
    ProviderError,
    StatusUpdate,
    TemplateChanged,
    WebhookErrors,
    WebhookEvent,
)
from bot.bsp.meta import parse_envelope
from bot.core.ingest import ingest_events, record_business_message
from bot.rules.status import stored_rank
from bot.store import contacts, outbound
from bot.store.db import Store
from bot.store.events import load_events
from bot.store.models import Contact, CustomerEvent, OutboundMessage, StatusEvent, Window
from tests.conftest import load_fixture

INBOUND_AT = datetime.fromtimestamp(1749416383, UTC)  # cloudapi-inbound-text.json
NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
CUSTOMER = "5511988887777"

FIXTURES = [
    "cloudapi-inbound-text.json",
    "cloudapi-inbound-template-quick-reply-button.json",
    "cloudapi-status-sent-pmp-marketing-with-conversation.json",
    "cloudapi-status-failed-131049.json",
    "cloudapi-status-v24-no-conversation-no-pricing.json",
    "gupshup-v3-status-sent-pmp.json",
    "onprem-legacy-status-failed-470.json",
]


def fixture_events(name: str) -> list[WebhookEvent]:
    return parse_envelope(load_fixture(name))


def snapshot(store: Store) -> dict[str, Any]:
    """Every row ingestion writes, without surrogate ids (they depend on insertion order)."""
    with store.session() as session:
        contacts = {c.id: c.phone_key or c.wa_id or c.user_id for c in session.scalars(select(Contact))}
        return {
            "contacts": sorted(
                (c.phone_key or "", c.e164 or "", c.wa_id or "", c.user_id or "", c.name or "")
                for c in session.scalars(select(Contact))
            ),
            "events": sorted(
                (
                    e.channel_id,
                    contacts[e.contact_id],
                    e.kind,
                    e.ref,
                    e.at,
                    e.from_ad,
                    e.origin or "",
                    e.expires_at or e.at,
                    json.dumps(e.data, sort_keys=True),
                )
                for e in session.scalars(select(CustomerEvent))
            ),
            "windows": sorted(
                (w.channel_id, contacts[w.contact_id], w.kind, w.opened_at or w.expires_at, w.expires_at)
                for w in session.scalars(select(Window))
            ),
            "statuses": sorted(
                (s.channel_id, s.message_id, s.status) for s in session.scalars(select(StatusEvent))
            ),
            "outbound": sorted(
                (o.idempotency_key, o.status, o.status_rank, o.error_code or "")
                for o in session.scalars(select(OutboundMessage))
            ),
        }


def windows_of(store: Store, channel_id: str = "vendas") -> dict[str, tuple[datetime | None, datetime]]:
    with store.session() as session:
        return {
            w.kind: (w.opened_at, w.expires_at)
            for w in session.scalars(select(Window).where(Window.channel_id == channel_id))
        }


def make_outbound(store: Store, message_id: str, wa_id: str = CUSTOMER, key: str = "k1") -> int:
    with store.session() as session:
        contact = contacts.upsert_contact(session, wa_id=wa_id, now=NOW)
        row, _ = outbound.create_outbound(
            session,
            idempotency_key=key,
            channel_id="vendas",
            contact_id=contact.id,
            agent_user_id="UAGENT",
            team_id="suporte",
            kind="template",
            category="marketing",
            template_name="promo",
            language="pt_BR",
            parameters={},
            text=None,
            status="pending",
            charge="paid",
            estimated_price=0.0625,
            currency="USD",
            now=NOW,
        )
        row.bsp_message_id = message_id
        row.status, row.status_rank = "accepted", 1
        return row.id


def status(message_id: str, state: str, at: datetime, **kw: Any) -> StatusUpdate:
    return StatusUpdate(message_id=message_id, status=state, at=at, recipient_wa_id=CUSTOMER, **kw)


# ---- inbound ------------------------------------------------------------------------------------


def test_inbound_text_fixture_opens_the_customer_care_window(store: Store) -> None:
    report = ingest_events(store, "vendas", fixture_events("cloudapi-inbound-text.json"), INBOUND_AT)
    assert (report.contacts_touched, report.customer_messages) == (1, 1)
    with store.session() as session:
        contact = session.scalars(select(Contact)).one()
        assert (contact.wa_id, contact.phone_key, contact.name, contact.name_search) == (
            "16505551234",
            "+16505551234",
            "Sheena Nelson",
            "sheena nelson",
        )
        event = session.scalars(select(CustomerEvent)).one()
        assert (event.kind, event.at, event.from_ad) == ("customer", INBOUND_AT, False)
        assert event.ref.startswith("wamid.")
    assert windows_of(store) == {"customer_care": (INBOUND_AT, INBOUND_AT + timedelta(hours=24))}


def test_a_newer_button_reply_extends_the_window(store: Store) -> None:
    ingest_events(store, "vendas", fixture_events("cloudapi-inbound-text.json"), NOW)
    ingest_events(store, "vendas", fixture_events("cloudapi-inbound-template-quick-reply-button.json"), NOW)
    replied = datetime.fromtimestamp(1750091045, UTC)
    assert windows_of(store)["customer_care"] == (replied, replied + timedelta(hours=24))


def test_system_messages_are_not_customer_messages(store: Store) -> None:
    event = InboundMessage(message_id="wamid.SYS", wa_id=CUSTOMER, at=NOW, type="system")
    report = ingest_events(store, "vendas", [event], NOW)
    assert report.customer_messages == 0
    assert snapshot(store)["events"] == []


def test_user_id_only_sender(store: Store) -> None:
    event = InboundMessage(message_id="wamid.U1", wa_id="", user_id="BR.42", at=NOW, profile_name="Zé")
    ingest_events(store, "vendas", [event], NOW)
    with store.session() as session:
        contact = session.scalars(select(Contact)).one()
        assert (contact.user_id, contact.wa_id, contact.phone_key) == ("BR.42", None, None)
    assert windows_of(store)["customer_care"][1] == NOW + timedelta(hours=24)


# ---- idempotency ------------------------------------------------------------------------------


def test_every_fixture_three_times_and_shuffled_leaves_identical_rows(store: Store, db_url: str) -> None:
    make_outbound(store, "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA", wa_id="16505551234")
    batch = [event for name in FIXTURES for event in fixture_events(name)]
    ingest_events(store, "vendas", batch, NOW)
    once = snapshot(store)
    assert once["events"] and once["windows"] and once["statuses"]
    for _ in range(2):
        ingest_events(store, "vendas", batch, NOW)
    assert snapshot(store) == once

    # A fresh database fed the same events one by one, in shuffled orders, ends the same.
    other = Store.from_url(db_url.replace("contato.db", "other.db")) if db_url.startswith("sqlite") else None
    if other is None:
        return  # PostgreSQL: the repeated batch above is the check; a second database is not worth it
    try:
        other.migrate()
        make_outbound(
            other, "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA", wa_id="16505551234"
        )
        for seed in range(3):
            shuffled = random.Random(seed).sample(batch, len(batch))
            for event in shuffled:
                ingest_events(other, "vendas", [event], NOW)
        assert snapshot(other) == once
    finally:
        other.dispose()


def test_shuffled_batches_on_fresh_stores(db_url: str) -> None:
    batch = [event for name in FIXTURES for event in fixture_events(name)]
    snapshots = []
    for seed in range(2):
        store = Store.from_url(db_url)
        store.migrate()
        try:
            with store.engine.begin() as connection:  # start empty each round
                for table in ("windows", "customer_events", "status_events", "outbound_messages", "contacts"):
                    connection.exec_driver_sql(f"DELETE FROM {table}")
            make_outbound(
                store, "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA", wa_id="16505551234"
            )
            ingest_events(store, "vendas", random.Random(seed).sample(batch, len(batch)), NOW)
            snapshots.append(snapshot(store))
        finally:
            store.dispose()
    assert snapshots[0] == snapshots[1]
    assert ("k1", "failed", 6, "131049") in snapshots[0]["outbound"]


# ---- statuses ------------------------------------------------------------------------------------


FINAL = {
    ("sent", "delivered", "read"): "read",
    ("sent", "delivered"): "delivered",
    ("sent", "failed"): "failed",
    ("delivered", "failed"): "failed",
    ("read", "failed"): "read",
    ("sent", "read", "played"): "played",
    ("failed", "played"): "played",
}


@pytest.mark.parametrize("statuses", sorted(FINAL))
def test_status_moves_forward_whatever_the_order(db_url: str, statuses: tuple[str, ...]) -> None:
    finals = set()
    for order in itertools.permutations(statuses):
        store = Store.from_url(db_url)
        store.migrate()
        try:
            with store.engine.begin() as connection:
                for table in ("windows", "customer_events", "status_events", "outbound_messages", "contacts"):
                    connection.exec_driver_sql(f"DELETE FROM {table}")
            outbound_id = make_outbound(store, "wamid.OUT")
            for i, state in enumerate(order):
                errors = (
                    (ProviderError("131026", "Undeliverable", "no WhatsApp"),) if state == "failed" else ()
                )
                ingest_events(
                    store,
                    "vendas",
                    [status("wamid.OUT", state, NOW + timedelta(seconds=i), errors=errors)],
                    NOW,
                )
            with store.session() as session:
                row = session.get(OutboundMessage, outbound_id)
                assert row is not None
                finals.add((row.status, row.status_rank, row.error_code))
        finally:
            store.dispose()
    assert len(finals) == 1, finals
    final_status, rank, error = finals.pop()
    assert final_status == FINAL[statuses]
    assert rank == stored_rank(final_status)
    assert error == ("131026" if final_status == "failed" else None)


def test_status_report_counts_and_changes(store: Store) -> None:
    outbound_id = make_outbound(store, "wamid.OUT")
    first = ingest_events(store, "vendas", [status("wamid.OUT", "delivered", NOW)], NOW)
    assert (first.statuses_applied, first.statuses_ignored, first.status_changes) == (
        1,
        0,
        [(outbound_id, "delivered")],
    )
    late = ingest_events(store, "vendas", [status("wamid.OUT", "sent", NOW - timedelta(seconds=5))], NOW)
    assert (late.statuses_applied, late.statuses_ignored, late.status_changes) == (0, 1, [])
    again = ingest_events(store, "vendas", [status("wamid.OUT", "delivered", NOW)], NOW)
    assert (again.statuses_applied, again.statuses_ignored) == (0, 1)
    failed = ingest_events(store, "vendas", fixture_events("onprem-legacy-status-failed-470.json"), NOW)
    assert failed.status_changes == []  # not one of ours: no confirmation to update


def test_a_status_on_another_channel_never_moves_our_message(store: Store) -> None:
    outbound_id = make_outbound(store, "wamid.SHARED")
    other = ingest_events(store, "outro", [status("wamid.SHARED", "read", NOW)], NOW)
    assert other.status_changes == []
    with store.session() as session:
        assert session.get(OutboundMessage, outbound_id).status == "accepted"  # type: ignore[union-attr]
    same = ingest_events(store, "vendas", [status("wamid.SHARED", "read", NOW)], NOW)
    assert same.status_changes == [(outbound_id, "read")]


def test_failed_fixture_stores_the_error(store: Store) -> None:
    outbound_id = make_outbound(
        store, "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA", "16505551234"
    )
    report = ingest_events(store, "vendas", fixture_events("cloudapi-status-failed-131049.json"), NOW)
    assert report.status_changes == [(outbound_id, "failed")]
    with store.session() as session:
        row = session.get(OutboundMessage, outbound_id)
        assert row is not None
        assert (row.status, row.status_rank, row.error_code) == ("failed", 6, "131049")
        assert row.error_detail and "healthy ecosystem" in row.error_detail
        assert row.status_at == datetime.fromtimestamp(1751142888, UTC)


def test_sent_status_with_conversation(store: Store) -> None:
    events = fixture_events("cloudapi-status-sent-pmp-marketing-with-conversation.json")
    report = ingest_events(store, "vendas", events, NOW)
    assert report.conversations == 1
    assert ingest_events(store, "vendas", events, NOW).conversations == 0  # the same conversation: a no-op
    sent_at = datetime.fromtimestamp(1750030073, UTC)
    expires = datetime.fromtimestamp(1750116480, UTC)
    with store.session() as session:
        rows = {e.kind: e for e in session.scalars(select(CustomerEvent))}
        assert set(rows) == {"business", "conversation"}  # a message sent outside this app counts too
        assert rows["business"].at == sent_at
        conversation = rows["conversation"]
        assert (conversation.ref, conversation.origin, conversation.expires_at) == (
            "72b14d6bd5407799e66f64d1b338e567",
            "marketing",
            expires,
        )
        contact = session.scalars(select(Contact)).one()
        assert contact.wa_id == "16505551234"


def test_ctwa_lead_pending_then_fep_opened_by_the_reply(store: Store) -> None:
    lead_at = NOW - timedelta(hours=2)
    lead = InboundMessage(message_id="wamid.AD", wa_id=CUSTOMER, at=lead_at, referral={"source_type": "ad"})
    ingest_events(store, "vendas", [lead], NOW)
    assert windows_of(store) == {
        "customer_care": (lead_at, lead_at + timedelta(hours=24)),
        "ctwa_pending": (lead_at, lead_at + timedelta(hours=24)),
    }
    with store.session() as session:
        event = session.scalars(select(CustomerEvent)).one()
        assert event.from_ad and event.data == {"referral": {"source_type": "ad"}}

    reply_at = NOW
    ingest_events(store, "vendas", [status("wamid.REPLY", "sent", reply_at)], NOW)
    assert windows_of(store) == {
        "customer_care": (lead_at, lead_at + timedelta(hours=24)),
        "ctwa": (reply_at, reply_at + timedelta(hours=72)),
    }


def test_record_business_message_after_a_send(store: Store) -> None:
    lead_at = NOW - timedelta(hours=1)
    ingest_events(
        store, "vendas", [InboundMessage("wamid.AD", CUSTOMER, lead_at, referral={"source_type": "ad"})], NOW
    )
    with store.session() as session:
        contact = contacts.find_contact(session, wa_id=CUSTOMER)
        assert contact is not None
        record_business_message(session, "vendas", contact.id, "wamid.OUT", NOW)
        record_business_message(session, "vendas", contact.id, "wamid.OUT", NOW)  # idempotent
    assert windows_of(store)["ctwa"] == (NOW, NOW + timedelta(hours=72))
    assert "ctwa_pending" not in windows_of(store)


def test_windows_are_per_channel(store: Store) -> None:
    ingest_events(store, "vendas", [InboundMessage("wamid.1", CUSTOMER, NOW)], NOW)
    ingest_events(store, "outro", [InboundMessage("wamid.2", CUSTOMER, NOW - timedelta(hours=1))], NOW)
    assert windows_of(store, "vendas")["customer_care"][1] == NOW + timedelta(hours=24)
    assert windows_of(store, "outro")["customer_care"][1] == NOW + timedelta(hours=23)


# ---- other events ---------------------------------------------------------------------------------


def test_number_change_keeps_the_history(store: Store) -> None:
    ingest_events(store, "vendas", [InboundMessage("wamid.1", CUSTOMER, NOW)], NOW)
    report = ingest_events(store, "vendas", [NumberChanged(CUSTOMER, "5521977776666", NOW)], NOW)
    assert report.numbers_changed == 1
    with store.session() as session:
        contact = contacts.find_contact(session, phone="+5521977776666")
        assert contact is not None and contact.wa_id == "5521977776666"
        assert len(load_events(session, "vendas", contact.id)) == 1


def test_template_changes_and_errors_are_reported(store: Store) -> None:
    change = TemplateChanged(
        name="promo", language="pt_BR", event="template_category_update", new_category="MARKETING"
    )
    errors = WebhookErrors((ProviderError("131000", "Something went wrong"),))
    report = ingest_events(store, "vendas", [change, errors], NOW)
    assert report.templates_changed == [change]
    data = json.loads(json.dumps(report.to_dict()))
    assert data["templates_changed"][0]["name"] == "promo"
    assert data["errors"] == [{"code": "131000", "title": "Something went wrong", "detail": ""}]
    assert set(data) >= {
        "contacts_touched",
        "customer_messages",
        "statuses_applied",
        "statuses_ignored",
        "conversations",
        "templates_changed",
        "errors",
        "status_changes",
    }
