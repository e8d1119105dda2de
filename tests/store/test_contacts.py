"""bot.store.contacts: one contact per person whatever form its number comes in, and the search,
on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.store import contacts
from bot.store.db import Store
from bot.store.models import Contact

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)


def count_contacts(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(Contact)) or 0)


def test_both_brazilian_forms_are_one_contact(store: Store) -> None:
    with store.session() as session:
        typed = contacts.upsert_contact(session, e164="+5511988887777", now=NOW)
        typed_id = typed.id
    with store.session() as session:
        # WhatsApp reports the old 8-digit form: the same person.
        reported = contacts.upsert_contact(session, wa_id="551188887777", name="Maria", now=NOW)
        assert reported.id == typed_id
        assert reported.wa_id == "551188887777"  # what WhatsApp says to send to
        assert reported.phone_key == "+5511988887777"
        assert reported.name == "Maria"
    with store.session() as session:
        assert contacts.find_contact(session, phone="+551188887777").id == typed_id  # type: ignore[union-attr]
        assert contacts.find_contact(session, wa_id="5511988887777").id == typed_id  # type: ignore[union-attr]
    assert count_contacts(store) == 1


def test_a_new_non_empty_wa_id_wins_and_empty_ones_are_ignored(store: Store) -> None:
    with store.session() as session:
        contact = contacts.upsert_contact(session, wa_id="551188887777", now=NOW)
        contacts.upsert_contact(session, wa_id="", user_id="BR.123", now=NOW)
        contacts.set_contact_wa_id(session, contact.id, "5511988887777", now=NOW)
    with store.session() as session:
        row = contacts.find_contact(session, phone="+5511988887777")
        assert row is not None and row.wa_id == "5511988887777"


def test_user_id_only_contacts(store: Store) -> None:
    with store.session() as session:
        first = contacts.upsert_contact(session, wa_id="", user_id="BR.abc", name="Ana", now=NOW)
        assert first.phone_key is None and first.wa_id is None
        first_id = first.id
    with store.session() as session:
        again = contacts.upsert_contact(session, user_id="BR.abc", now=NOW)
        assert again.id == first_id
        # Later the same user shows a number: filled in, still one contact.
        known = contacts.upsert_contact(session, wa_id="5511977776666", user_id="BR.abc", now=NOW)
        assert known.id == first_id and known.phone_key == "+5511977776666"
    with store.session() as session:
        assert contacts.find_contact(session, user_id="BR.abc").id == first_id  # type: ignore[union-attr]
        assert contacts.find_contact(session, user_id="BR.other") is None
    assert count_contacts(store) == 1


def test_upsert_needs_an_identifier(store: Store) -> None:
    with store.session() as session, pytest.raises(ValueError):
        contacts.upsert_contact(session, wa_id="", now=NOW)


def test_concurrent_upserts_make_one_contact(store: Store) -> None:
    barrier = threading.Barrier(4)
    ids: list[int] = []
    errors: list[BaseException] = []

    def worker(form: str) -> None:
        try:
            barrier.wait()
            with store.session() as session:
                ids.append(contacts.upsert_contact(session, wa_id=form, now=NOW).id)
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
        contact_id = contacts.upsert_contact(session, wa_id="5511988887777", now=NOW).id
    with store.session() as session:
        moved = contacts.move_contact_number(session, "5511988887777", "5521977776666", NOW)
        assert moved is not None and moved.id == contact_id
    with store.session() as session:
        assert contacts.find_contact(session, phone="+5521977776666").id == contact_id  # type: ignore[union-attr]
        assert contacts.find_contact(session, phone="+5511988887777") is None


def test_search_by_name_and_number(store: Store) -> None:
    people = [
        ("+5511988887777", "José Ávila"),
        ("+5511977776666", "Maria Josefina"),
        ("+5521966665555", "Ana Souza"),
        ("+14155550123", "Bob 100% Real"),
    ]
    with store.session() as session:
        for e164, name in people:
            contacts.upsert_contact(session, e164=e164, name=name, now=NOW)

    def names(query: str, limit: int = 20) -> list[str | None]:
        with store.session() as session:
            return [c.name for c in contacts.search_contacts(session, query, limit)]

    assert names("jose") == ["José Ávila", "Maria Josefina"]  # unaccented, substring, by name
    assert names("ÁVI") == ["José Ávila"]
    assert names("souza") == ["Ana Souza"]
    assert names("11 98888") == ["José Ávila"]  # national digits
    assert names("5521") == ["Ana Souza"]
    assert names("7776") == ["Maria Josefina"]  # digits anywhere in the number
    assert names("100%") == ["Bob 100% Real"]  # LIKE wildcards are literal
    assert names("jose", limit=1) == ["José Ávila"]
    assert names("") == [] and names("zzz") == []
