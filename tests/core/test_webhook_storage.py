"""The endpoint's group commit (`store_deliveries`): every body stored as the ORM would store it, and
each id given back is the id of its own body, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from bot.core.webhooks import store_deliveries
from bot.store import deliveries
from bot.store.db import Store

COLUMNS = "channel_id, received_at, body, attempts, processed_at, error, next_attempt_at, failed_at"


def stored(store: Store, delivery_id: int) -> tuple[Any, ...]:
    """The row as the database holds it (SQLite: the very text of the time), id left out."""
    with store.session() as session:
        row = session.execute(
            text(f"SELECT {COLUMNS} FROM webhook_deliveries WHERE id = :id"), {"id": delivery_id}
        ).one()
    return tuple(bytes(value) if isinstance(value, memoryview) else value for value in row)


@pytest.mark.parametrize(
    "now", [datetime(2026, 11, 24, 19, 0, tzinfo=UTC), datetime(2026, 11, 24, 19, 0, 1, 123456, tzinfo=UTC)]
)
def test_a_batch_is_stored_as_the_orm_stores_one_body(store: Store, now: datetime) -> None:
    body = b'{"object": "whatsapp_business_account", "bytes": "\x00\xff"}'
    with store.session() as session:
        by_orm = deliveries.insert_delivery(session, "vendas", body, now)
    (batched,) = store_deliveries(SimpleNamespace(store=store), [("vendas", body)], now)  # type: ignore[arg-type]
    assert batched > by_orm
    assert stored(store, batched) == stored(store, by_orm)


def test_each_id_given_back_is_the_id_of_its_own_body(store: Store) -> None:
    now = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
    bodies = [(f"channel-{i % 3}", f'{{"n": {i}}}'.encode() * (1 + i % 5)) for i in range(300)]
    ids = store_deliveries(SimpleNamespace(store=store), bodies, now)  # type: ignore[arg-type]
    assert len(set(ids)) == len(bodies)
    with store.session() as session:
        assert deliveries.unprocessed_bodies(session, ids) == sorted(
            (delivery_id, channel_id, raw) for delivery_id, (channel_id, raw) in zip(ids, bodies, strict=True)
        )
