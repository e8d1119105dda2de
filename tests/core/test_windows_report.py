"""`sessions_report` and the `sessions --json` contract (product.md), era by era."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from bot.bsp.base import InboundMessage, SessionData, StatusUpdate
from bot.cli.sessions import format_text
from bot.core.ingest import ingest_events
from bot.core.windows_report import SessionsReport, sessions_report
from bot.rules.pricing import load_rule_set
from bot.store.db import Store

CONTACT = "+5511988887777"
WA_ID = "5511988887777"
CHANNEL = SimpleNamespace(id="vendas", name="Vendas", number="+551140000000", bsp="sandbox")
RULES = load_rule_set()


def report(
    store: Store, at: datetime, data: SessionData = SessionData.FULL, phone: str = CONTACT
) -> SessionsReport:
    return sessions_report(store, CHANNEL, data, phone, at, RULES)


def writes(store: Store, at: datetime, *, ad: bool = False, message_id: str = "wamid.IN") -> None:
    referral = {"source_type": "ad", "source_id": "1"} if ad else None
    event = InboundMessage(message_id=message_id, wa_id=WA_ID, at=at, profile_name="Maria", referral=referral)
    ingest_events(store, "vendas", [event], at)


def closed_category(charge: str, price: float | None = None) -> dict[str, Any]:
    return {
        "open": False,
        "expires_at": None,
        "remaining_seconds": 0,
        "charge": charge,
        "price": price,
        "currency": "USD" if price is not None else None,
    }


def test_pmp_2026_customer_care_open(store: Store) -> None:
    at = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
    writes(store, at - timedelta(minutes=90))
    result = report(store, at)
    data = result.to_json()
    assert data == {
        "channel": "vendas",
        "contact": CONTACT,
        "at": "2026-11-24T19:00:00Z",
        "sessions_supported": True,
        "pricing_model": "PMP",
        "customer_care": {
            "open": True,
            "opened_at": "2026-11-24T17:30:00Z",
            "expires_at": "2026-11-25T17:30:00Z",
            "remaining_seconds": 81000,
        },
        "ctwa": {"open": False, "pending_until": None, "expires_at": None, "remaining_seconds": 0},
        "free_text_allowed": True,
        "categories": {
            # From 2026-10-01 free text in the window is billed at the utility rate.
            "service": closed_category("paid", 0.0068),
            "utility": closed_category("paid", 0.0068),
            "marketing": closed_category("paid", 0.0625),
            "authentication": closed_category("paid", 0.0068),
        },
    }
    assert list(data) == [
        "channel",
        "contact",
        "at",
        "sessions_supported",
        "pricing_model",
        "customer_care",
        "ctwa",
        "free_text_allowed",
        "categories",
    ]
    assert list(data["categories"]) == ["service", "utility", "marketing", "authentication"]
    assert result.contact_known and result.contact_name == "Maria"
    json.dumps(data)  # JSON-able as is


def test_pmp_2025_utility_free_in_the_window_and_ad_lead_waiting(store: Store) -> None:
    at = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    writes(store, at - timedelta(hours=3), ad=True)
    data = report(store, at).to_json()
    assert data["pricing_model"] == "PMP"
    assert data["ctwa"] == {
        "open": False,
        "pending_until": "2026-03-11T09:00:00Z",
        "expires_at": None,
        "remaining_seconds": 0,
    }
    assert data["customer_care"]["remaining_seconds"] == 21 * 3600
    assert data["free_text_allowed"] is True
    assert data["categories"] == {
        "service": closed_category("free"),
        "utility": closed_category("free"),
        "marketing": closed_category("paid", 0.0625),
        "authentication": closed_category("paid", 0.0068),
    }


def test_fep_open_makes_everything_free(store: Store) -> None:
    at = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
    writes(store, at - timedelta(hours=30), ad=True)
    reply = at - timedelta(hours=29)  # within the lead's 24 h: opens 72 h
    ingest_events(store, "vendas", [StatusUpdate("wamid.OUT", "sent", reply, recipient_wa_id=WA_ID)], at)
    data = report(store, at).to_json()
    assert data["ctwa"] == {
        "open": True,
        "pending_until": None,
        "expires_at": "2026-11-26T14:00:00Z",
        "remaining_seconds": 43 * 3600,
    }
    assert data["customer_care"]["open"] is False and data["free_text_allowed"] is False
    assert data["customer_care"]["expires_at"] == "2026-11-24T13:00:00Z"  # closed since
    assert {name: c["charge"] for name, c in data["categories"].items()} == {
        "service": "unavailable",
        "utility": "free",
        "marketing": "free",
        "authentication": "free",
    }


def test_cbp_conversation_open(store: Store) -> None:
    at = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    writes(store, at - timedelta(hours=1))
    sent = StatusUpdate(
        "wamid.OUT",
        "sent",
        at - timedelta(hours=14),
        recipient_wa_id=WA_ID,
        conversation_id="conv-1",
        conversation_origin="marketing",
        conversation_expires_at=at + timedelta(hours=10),
    )
    ingest_events(store, "vendas", [sent], at)
    data = report(store, at).to_json()
    assert data["pricing_model"] == "CBP"
    assert data["categories"]["marketing"] == {
        "open": True,
        "expires_at": "2025-03-01T22:00:00Z",
        "remaining_seconds": 36000,
        "charge": "free",
        "price": None,
        "currency": None,
    }
    assert data["categories"]["service"]["charge"] == "free"  # free from 2024-11-01
    assert data["categories"]["utility"] == closed_category("paid", 0.0068)


def test_templates_only_bsp(store: Store) -> None:
    at = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
    writes(store, at - timedelta(minutes=5))
    result = report(store, at, SessionData.NONE)
    data = result.to_json()
    assert data["sessions_supported"] is False and data["free_text_allowed"] is False
    assert data["customer_care"] == {
        "open": False,
        "opened_at": None,
        "expires_at": None,
        "remaining_seconds": 0,
    }
    assert data["ctwa"] == {"open": False, "pending_until": None, "expires_at": None, "remaining_seconds": 0}
    assert all(c == closed_category("unknown") for c in data["categories"].values())
    assert result.contact_known


def test_unknown_contact_has_everything_closed(store: Store) -> None:
    at = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
    result = report(store, at, phone="+14155550123")
    data = result.to_json()
    assert not result.contact_known and result.contact_name is None
    assert data["contact"] == "+14155550123"
    assert data["customer_care"]["open"] is False
    assert data["categories"]["service"] == closed_category("unavailable")
    assert data["categories"]["marketing"] == closed_category("paid", 0.025)  # North America's rate


def test_old_brazilian_form_finds_the_same_contact(store: Store) -> None:
    at = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
    writes(store, at - timedelta(hours=1))
    result = report(store, at, phone="+551188887777")
    assert result.contact == CONTACT and result.windows.customer_care.open


def test_window_expired_exactly_at_expiry(store: Store) -> None:
    written = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
    writes(store, written)
    data = report(store, written + timedelta(hours=24)).to_json()
    assert data["customer_care"]["open"] is False and data["customer_care"]["remaining_seconds"] == 0


def test_text_table_mentions_every_card(store: Store) -> None:
    at = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
    writes(store, at - timedelta(hours=2), ad=True)
    text = format_text(report(store, at))
    for word in (
        "customer_care",
        "ctwa",
        "service",
        "utility",
        "marketing",
        "authentication",
        "ad lead waiting",
    ):
        assert word in text
