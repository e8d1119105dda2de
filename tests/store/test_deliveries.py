"""bot.store.deliveries: webhook bodies kept until processed, in the order they came."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.store import deliveries
from bot.store.db import Store

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)


def test_stored_bodies_wait_until_processed(store: Store) -> None:
    with store.session() as session:
        ids = deliveries.insert_deliveries(session, [("vendas", b"{}"), ("outro", b"[1]")], NOW)
        single = deliveries.insert_delivery(session, "vendas", b'{"a": 1}', NOW)
    assert ids == sorted(ids) and single > ids[-1]
    with store.session() as session:
        assert deliveries.unprocessed_ids(session) == [*ids, single]
        assert deliveries.unprocessed_bodies(session, [single, ids[1]]) == [
            (ids[1], "outro", b"[1]"),
            (single, "vendas", b'{"a": 1}'),
        ]
        deliveries.mark_error(session, ids[0], "ValueError: " + "x" * 3000)
        deliveries.mark_processed(session, [ids[1]], NOW)
    with store.session() as session:
        assert deliveries.unprocessed_ids(session) == [ids[0], single]
        assert deliveries.unprocessed_bodies(session, [ids[1]]) == []
