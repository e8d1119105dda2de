"""bot.store.events: stored customer events read back as the rules' events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.rules.events import BusinessMessage, ConversationSeen, CustomerMessage
from bot.store import contacts
from bot.store.db import Store
from bot.store.events import load_events
from bot.store.models import CustomerEvent

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)


def test_load_events_maps_rows_to_rule_events(store: Store) -> None:
    later = NOW + timedelta(hours=1)
    with store.session() as session:
        contact_id = contacts.upsert_contact(session, e164="+5511988887777", now=NOW).id
        session.add_all(
            [
                CustomerEvent(
                    channel_id="vendas",
                    contact_id=contact_id,
                    kind="customer",
                    ref="in1",
                    at=NOW,
                    from_ad=True,
                ),
                CustomerEvent(
                    channel_id="vendas",
                    contact_id=contact_id,
                    kind="business",
                    ref="out1",
                    at=later,
                    from_ad=False,
                ),
                CustomerEvent(
                    channel_id="vendas",
                    contact_id=contact_id,
                    kind="conversation",
                    ref="c1",
                    at=later,
                    from_ad=False,
                    origin="marketing",
                    expires_at=later + timedelta(hours=24),
                ),
                CustomerEvent(
                    channel_id="outro",
                    contact_id=contact_id,
                    kind="customer",
                    ref="in2",
                    at=NOW,
                    from_ad=False,
                ),
            ]
        )
    with store.session() as session:
        events = load_events(session, "vendas", contact_id)
    assert set(events) == {
        CustomerMessage("in1", NOW, from_ad=True),
        BusinessMessage("out1", later),
        ConversationSeen("c1", "marketing", later + timedelta(hours=24)),
    }
