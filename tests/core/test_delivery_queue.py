"""The drain shared by `worker` and `serve --ingest in-process` (bot.core.delivery_queue), with
the clock injected: due deliveries only, oldest first, the retry backoff and parking kept, and a
template webhook ingested in one process seen by another process's template cache."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.core import delivery_queue
from bot.store import deliveries
from bot.store.models import CustomerEvent
from bot.store.templates import save_templates
from tests.core.test_template_webhooks import CATEGORY_UPDATE
from tests.core.test_webhook_hardening import NOW, envelope, make_runtime, message


@pytest.fixture
def rt(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from make_runtime(db_url, tmp_path, monkeypatch)


def store(rt: Any, *raws: bytes) -> list[int]:
    with rt.store.session() as session:
        return deliveries.insert_deliveries(session, [("vendas", raw) for raw in raws], rt.now())


def refs(rt: Any) -> list[str]:
    with rt.store.session() as session:
        return sorted(session.scalars(select(CustomerEvent.ref)))


def test_batches_take_the_oldest_due_deliveries_and_mark_them_processed(rt: Any) -> None:
    ids = store(rt, *(envelope(message(f"wamid.B{i}")) for i in range(5)))
    first = delivery_queue.drain_due(rt, limit=3)
    assert (first.claimed, first.processed, first.failed) == (3, 3, 0)
    assert refs(rt) == ["wamid.B0", "wamid.B1", "wamid.B2"]
    second = delivery_queue.drain_due(rt, limit=3)
    assert (second.claimed, second.processed) == (2, 2)
    assert delivery_queue.drain_due(rt, limit=3).claimed == 0
    with rt.store.session() as session:
        assert deliveries.unprocessed_ids(session) == []
        assert all(deliveries.delivery_state(session, i).processed_at == NOW for i in ids)  # type: ignore[union-attr]


def test_a_failing_delivery_waits_for_its_backoff_then_is_parked(
    rt: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from bot.store import events as event_rows

    real_insert = event_rows.insert_customer_events

    def failing_insert(session: Any, rows: Any) -> list[str]:
        # A fault below ingestion (the database refusing one row), not in the code under test.
        if any(row["ref"] == "wamid.BOOM" for row in rows):
            raise OperationalError("INSERT ...", {}, Exception("boom"))
        return real_insert(session, rows)

    monkeypatch.setattr(event_rows, "insert_customer_events", failing_insert)
    (bad,) = store(rt, envelope(message("wamid.OK"), message("wamid.BOOM")))
    (good,) = store(rt, envelope(message("wamid.NEXT")))
    drained = delivery_queue.drain_due(rt)
    assert (drained.claimed, drained.processed, drained.failed) == (2, 1, 1)
    assert refs(rt) == ["wamid.NEXT", "wamid.OK"]  # the good sibling and the next delivery landed
    for attempt in range(2, delivery_queue.MAX_ATTEMPTS + 1):
        assert delivery_queue.drain_due(rt).claimed == 0  # not due before its backoff is over
        rt.clock.now += delivery_queue.RETRY_BACKOFF * 2 ** (attempt - 2)
        assert delivery_queue.drain_due(rt).failed == 1
        with rt.store.session() as session:
            row = deliveries.delivery_state(session, bad)
            assert row is not None and row.attempts == attempt and row.processed_at is None
    assert row.failed_at is not None  # parked
    rt.clock.now += timedelta(days=1)
    assert delivery_queue.drain_due(rt).claimed == 0  # parked: left for `webhook replay`
    with rt.store.session() as session:
        assert deliveries.delivery_ids(session, failed=True) == [bad]
        assert deliveries.delivery_state(session, good).processed_at is not None  # type: ignore[union-attr]


def test_a_template_webhook_drained_elsewhere_reaches_this_process_cache(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.rules.events import Category
    from bot.rules.templates import Template

    runtimes = make_runtime(db_url, tmp_path, monkeypatch)
    worker = next(runtimes)
    other = make_runtime(db_url, tmp_path, monkeypatch)
    serve = next(other)
    try:
        with serve.store.session() as session:
            save_templates(
                session, "vendas", [Template("aviso_pedido", "pt_BR", Category.UTILITY, "APPROVED")], NOW
            )
        serve.templates.recheck_seconds = 0  # look at the stored row at every read
        assert serve.templates.get("vendas", revalidate=False).status == "fresh"
        with worker.store.session() as session:
            deliveries.insert_delivery(session, "vendas", json.dumps(CATEGORY_UPDATE).encode(), NOW)
        (report,) = [r for _, r in delivery_queue.drain_due(worker).reports]
        assert len(report.templates_changed) == 1
        cached = serve.templates.get("vendas", revalidate=False)
        assert (cached.status, [t.name for t in cached.templates]) == ("stale", ["aviso_pedido"])
        # A fetch asked for after the change clears the mark, in every process.
        later = NOW + timedelta(seconds=5)
        with serve.store.session() as session:
            save_templates(
                session,
                "vendas",
                [Template("aviso_pedido", "pt_BR", Category.UTILITY, "APPROVED")],
                later,
                later,
            )
        assert serve.templates.get("vendas", revalidate=False).status == "fresh"
    finally:
        for gen in (runtimes, other):
            next(gen, None)


def wait_for_a_drainer_waiting(rt: Any, failure: str) -> None:
    """Until a PostgreSQL advisory lock is waited for (a drainer waits its turn); `failure` after 30 s."""
    import time

    from sqlalchemy import text

    deadline = time.monotonic() + 30
    with rt.store.engine.connect() as observer:
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        while not observer.scalar(text(waiting)):
            assert time.monotonic() < deadline, failure
            observer.rollback()
            time.sleep(0.05)


def test_two_drainers_on_one_customer_take_turns_and_the_window_sees_both(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from bot.core.ingest import ingest_events_in
    from bot.store.models import Window

    runtimes = make_runtime(pg_url, tmp_path, monkeypatch)
    rt = next(runtimes)
    try:
        hour = 3600
        store(rt, envelope(message("wamid.OLDER", at=int(NOW.timestamp()) - 2 * hour)))
        newer = delivery_queue.parse_body(
            rt, "vendas", envelope(message("wamid.NEWER", at=int(NOW.timestamp()) - hour)), NOW
        )
        drained: list[delivery_queue.Drained] = []
        with rt.store.session() as session:  # another drainer, mid-batch on the same customer
            deliveries.serialize_on(session, delivery_queue.contact_keys("vendas", newer))
            thread = threading.Thread(target=lambda: drained.append(delivery_queue.drain_due(rt)))
            thread.start()
            wait_for_a_drainer_waiting(rt, "the second drainer did not wait its turn")
            ingest_events_in(session, "vendas", newer, NOW)
        thread.join(timeout=30)
        assert drained and drained[0].processed == 1
        assert refs(rt) == ["wamid.NEWER", "wamid.OLDER"]
        with rt.store.session() as session:
            expires = session.scalars(select(Window.expires_at).where(Window.kind == "customer_care")).one()
        assert expires == NOW - timedelta(hours=1) + timedelta(hours=24)  # from the newer message
    finally:
        next(runtimes, None)


def test_a_customer_known_by_phone_and_by_bsuid_is_serialised_whichever_of_the_two_an_event_carries(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drainer holding the customer by BSUID (an event with no phone) makes one with an event by
    phone number wait: the same contact row, the same window to recompute."""
    import threading

    from bot.store import contacts

    runtimes = make_runtime(pg_url, tmp_path, monkeypatch)
    rt = next(runtimes)
    try:
        with rt.store.session() as session:
            contacts.upsert_contact(session, e164="+5511987654321", user_id="BR.1348210651929302", now=NOW)
        store(rt, envelope(message("wamid.BY_PHONE")))  # "from": the phone number only
        drained: list[delivery_queue.Drained] = []
        with rt.store.session() as session:  # another drainer, mid-batch on the customer by BSUID
            deliveries.serialize_on(session, {"user:BR.1348210651929302"})
            thread = threading.Thread(target=lambda: drained.append(delivery_queue.drain_due(rt)))
            thread.start()
            wait_for_a_drainer_waiting(rt, "the drainer by phone did not wait its turn")
            assert not drained
        thread.join(timeout=30)
        assert drained and drained[0].processed == 1
        assert refs(rt) == ["wamid.BY_PHONE"]
    finally:
        next(runtimes, None)


def test_a_batch_retried_one_by_one_still_renames_the_known_customer(
    rt: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's contact changes are written together: when the batch fails and its deliveries
    are applied one by one, the rename of a known customer must still reach the row."""
    from sqlalchemy.exc import OperationalError

    from bot.store import events as event_rows
    from bot.store.models import Contact

    store(rt, envelope(message("wamid.FIRST", at=1772452800)))
    assert delivery_queue.drain_due(rt).processed == 1
    real_insert = event_rows.insert_customer_events

    def failing_insert(session: Any, rows: Any) -> list[str]:
        # A fault below ingestion (the database refusing one row), not in the code under test.
        if any(row["ref"] == "wamid.BOOM" for row in rows):
            raise OperationalError("INSERT ...", {}, Exception("boom"))
        return real_insert(session, rows)

    monkeypatch.setattr(event_rows, "insert_customer_events", failing_insert)
    renamed = [{"profile": {"name": "Ana Souza"}, "wa_id": "5511987654321"}]
    store(
        rt,
        envelope(message("wamid.RENAMED", at=1772452860), contacts=renamed),
        envelope(message("wamid.BOOM", at=1772452830)),
    )
    drained = delivery_queue.drain_due(rt)
    assert (drained.claimed, drained.processed, drained.failed) == (2, 1, 1)
    with rt.store.session() as session:
        (contact,) = session.scalars(select(Contact))
        assert contact.name == "Ana Souza"
    assert refs(rt) == ["wamid.FIRST", "wamid.RENAMED"]
