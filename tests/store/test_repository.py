"""Contacts, search and outbound rows on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.rules.events import BusinessMessage, ConversationSeen, CustomerMessage
from bot.store import repository
from bot.store.db import Store
from bot.store.models import Contact, CustomerEvent, OutboundMessage

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store.from_url(db_url)
    store.migrate()
    yield store
    store.dispose()


def count_contacts(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(Contact)) or 0)


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


def test_both_brazilian_forms_are_one_contact(store: Store) -> None:
    with store.session() as session:
        typed = repository.upsert_contact(session, e164="+5511988887777", now=NOW)
        typed_id = typed.id
    with store.session() as session:
        # WhatsApp reports the old 8-digit form: the same person.
        reported = repository.upsert_contact(session, wa_id="551188887777", name="Maria", now=NOW)
        assert reported.id == typed_id
        assert reported.wa_id == "551188887777"  # what WhatsApp says to send to
        assert reported.phone_key == "+5511988887777"
        assert reported.name == "Maria"
    with store.session() as session:
        assert repository.find_contact(session, phone="+551188887777").id == typed_id  # type: ignore[union-attr]
        assert repository.find_contact(session, wa_id="5511988887777").id == typed_id  # type: ignore[union-attr]
    assert count_contacts(store) == 1


def test_a_new_non_empty_wa_id_wins_and_empty_ones_are_ignored(store: Store) -> None:
    with store.session() as session:
        contact = repository.upsert_contact(session, wa_id="551188887777", now=NOW)
        repository.upsert_contact(session, wa_id="", user_id="BR.123", now=NOW)
        repository.set_contact_wa_id(session, contact.id, "5511988887777", now=NOW)
    with store.session() as session:
        row = repository.find_contact(session, phone="+5511988887777")
        assert row is not None and row.wa_id == "5511988887777"


def test_user_id_only_contacts(store: Store) -> None:
    with store.session() as session:
        first = repository.upsert_contact(session, wa_id="", user_id="BR.abc", name="Ana", now=NOW)
        assert first.phone_key is None and first.wa_id is None
        first_id = first.id
    with store.session() as session:
        again = repository.upsert_contact(session, user_id="BR.abc", now=NOW)
        assert again.id == first_id
        # Later the same user shows a number: filled in, still one contact.
        known = repository.upsert_contact(session, wa_id="5511977776666", user_id="BR.abc", now=NOW)
        assert known.id == first_id and known.phone_key == "+5511977776666"
    with store.session() as session:
        assert repository.find_contact(session, user_id="BR.abc").id == first_id  # type: ignore[union-attr]
        assert repository.find_contact(session, user_id="BR.other") is None
    assert count_contacts(store) == 1


def test_upsert_needs_an_identifier(store: Store) -> None:
    with store.session() as session, pytest.raises(ValueError):
        repository.upsert_contact(session, wa_id="", now=NOW)


def test_concurrent_upserts_make_one_contact(store: Store) -> None:
    barrier = threading.Barrier(4)
    ids: list[int] = []
    errors: list[BaseException] = []

    def worker(form: str) -> None:
        try:
            barrier.wait()
            with store.session() as session:
                ids.append(repository.upsert_contact(session, wa_id=form, now=NOW).id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f,)) for f in ["5511988887777", "551188887777"] * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(ids)) == 1
    assert count_contacts(store) == 1


def test_number_change_moves_the_contact(store: Store) -> None:
    with store.session() as session:
        contact_id = repository.upsert_contact(session, wa_id="5511988887777", now=NOW).id
    with store.session() as session:
        moved = repository.move_contact_number(session, "5511988887777", "5521977776666", NOW)
        assert moved is not None and moved.id == contact_id
    with store.session() as session:
        assert repository.find_contact(session, phone="+5521977776666").id == contact_id  # type: ignore[union-attr]
        assert repository.find_contact(session, phone="+5511988887777") is None


def test_search_by_name_and_number(store: Store) -> None:
    people = [
        ("+5511988887777", "José Ávila"),
        ("+5511977776666", "Maria Josefina"),
        ("+5521966665555", "Ana Souza"),
        ("+14155550123", "Bob 100% Real"),
    ]
    with store.session() as session:
        for e164, name in people:
            repository.upsert_contact(session, e164=e164, name=name, now=NOW)

    def names(query: str, limit: int = 20) -> list[str | None]:
        with store.session() as session:
            return [c.name for c in repository.search_contacts(session, query, limit)]

    assert names("jose") == ["José Ávila", "Maria Josefina"]  # unaccented, substring, by name
    assert names("ÁVI") == ["José Ávila"]
    assert names("souza") == ["Ana Souza"]
    assert names("11 98888") == ["José Ávila"]  # national digits
    assert names("5521") == ["Ana Souza"]
    assert names("7776") == ["Maria Josefina"]  # digits anywhere in the number
    assert names("100%") == ["Bob 100% Real"]  # LIKE wildcards are literal
    assert names("jose", limit=1) == ["José Ávila"]
    assert names("") == [] and names("zzz") == []


def test_create_outbound_is_idempotent(store: Store) -> None:
    with store.session() as session:
        contact_id = repository.upsert_contact(session, e164="+5511988887777", now=NOW).id
        row, created = repository.create_outbound(session, contact_id=contact_id, **outbound_fields())
        assert created and row.status == "pending" and row.status_rank == 0
        first_id = row.id
    with store.session() as session:
        again, created = repository.create_outbound(
            session,
            contact_id=contact_id,
            **outbound_fields(text="different", now=NOW + timedelta(seconds=3)),
        )
        assert not created and again.id == first_id and again.text is None
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(OutboundMessage)) == 1


def test_concurrent_double_submit_creates_one_row(store: Store) -> None:
    with store.session() as session:
        contact_id = repository.upsert_contact(session, e164="+5511988887777", now=NOW).id
    barrier = threading.Barrier(2)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            barrier.wait()
            with store.session() as session:
                row, created = repository.create_outbound(session, contact_id=contact_id, **outbound_fields())
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
        contact_id = repository.upsert_contact(session, e164="+5511988887777", now=NOW).id
        for i in range(3):
            row, _ = repository.create_outbound(
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
        assert [r.id for r in repository.recent_outbound(session, agent_user_id="UAGENT")] == ids[::-1]
        assert [r.id for r in repository.recent_outbound(session, team_ids=["vendas"])] == [ids[0]]
        assert [
            r.id for r in repository.recent_outbound(session, since=NOW + timedelta(minutes=1), limit=1)
        ] == [ids[2]]
        assert repository.last_outbound(session, "vendas", contact_id).id == ids[2]  # type: ignore[union-attr]
        repository.set_confirmation(session, ids[0], "D123", "1700000000.000100")
    with store.session() as session:
        confirmed = session.get(OutboundMessage, ids[0])
        assert confirmed is not None
        assert (confirmed.slack_channel, confirmed.slack_ts) == ("D123", "1700000000.000100")


def test_load_events_maps_rows_to_rule_events(store: Store) -> None:
    later = NOW + timedelta(hours=1)
    with store.session() as session:
        contact_id = repository.upsert_contact(session, e164="+5511988887777", now=NOW).id
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
        events = repository.load_events(session, "vendas", contact_id)
    assert set(events) == {
        CustomerMessage("in1", NOW, from_ad=True),
        BusinessMessage("out1", later),
        ConversationSeen("c1", "marketing", later + timedelta(hours=24)),
    }
