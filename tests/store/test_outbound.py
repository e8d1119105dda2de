"""bot.store.outbound: sends recorded once under their idempotency key, and read back, on SQLite
and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.store import contacts, outbound
from bot.store.db import Store
from bot.store.models import OutboundMessage

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)


def outbound_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        idempotency_key="key-1",
        channel_id="vendas",
        agent_user_id="UAGENT",
        team_id="suporte",
        kind="template",
        category="utility",
        template_name="pedido_enviado",
        language="pt_BR",
        parameters={"body.1": "Maria"},
        text=None,
        status="pending",
        charge="paid",
        estimated_price=0.0068,
        currency="USD",
        now=NOW,
    )
    fields.update(overrides)
    return fields


def test_create_outbound_is_idempotent(store: Store) -> None:
    with store.session() as session:
        contact_id = contacts.upsert_contact(session, e164="+5511988887777", now=NOW).id
        row, created = outbound.create_outbound(session, contact_id=contact_id, **outbound_fields())
        assert created and row.status == "pending" and row.status_rank == 0
        first_id = row.id
    with store.session() as session:
        again, created = outbound.create_outbound(
            session,
            contact_id=contact_id,
            **outbound_fields(text="different", now=NOW + timedelta(seconds=3)),
        )
        assert not created and again.id == first_id and again.text is None
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(OutboundMessage)) == 1


def test_concurrent_double_submit_creates_one_row(store: Store) -> None:
    with store.session() as session:
        contact_id = contacts.upsert_contact(session, e164="+5511988887777", now=NOW).id
    barrier = threading.Barrier(2)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            barrier.wait()
            with store.session() as session:
                row, created = outbound.create_outbound(session, contact_id=contact_id, **outbound_fields())
                results.append((row.id, created))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({row_id for row_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, True]


def test_outbound_queries(store: Store) -> None:
    with store.session() as session:
        contact_id = contacts.upsert_contact(session, e164="+5511988887777", now=NOW).id
        for i in range(3):
            row, _ = outbound.create_outbound(
                session,
                contact_id=contact_id,
                **outbound_fields(
                    idempotency_key=f"k{i}",
                    team_id="suporte" if i else "vendas",
                    now=NOW + timedelta(minutes=i),
                ),
            )
            row.bsp_message_id = f"wamid.{i}"
        ids = [r.id for r in session.scalars(select(OutboundMessage).order_by(OutboundMessage.id))]
    with store.session() as session:
        assert [r.id for r in outbound.recent_outbound(session, agent_user_id="UAGENT")] == ids[::-1]
        assert [r.id for r in outbound.recent_outbound(session, team_ids=["vendas"])] == [ids[0]]
        assert [
            r.id for r in outbound.recent_outbound(session, since=NOW + timedelta(minutes=1), limit=1)
        ] == [ids[2]]
        assert outbound.last_outbound(session, "vendas", contact_id).id == ids[2]  # type: ignore[union-attr]
        outbound.set_confirmation(session, ids[0], "D123", "1700000000.000100")
    with store.session() as session:
        confirmed = session.get(OutboundMessage, ids[0])
        assert confirmed is not None
        assert (confirmed.slack_channel, confirmed.slack_ts) == ("D123", "1700000000.000100")
