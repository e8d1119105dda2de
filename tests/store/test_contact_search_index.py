"""Issue 14: the contact search by name finds substrings through a trigram index (pg_trgm's GIN on
PostgreSQL, an FTS5 trigram table on SQLite) instead of scanning every contact, keeps it current
whoever writes the contacts, fills it for contacts that existed before the migration, and still
works where the index could not be built. The plans are read with EXPLAIN (no timing)."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, event, insert, update

from bot.store import contacts
from bot.store.db import Store, alembic_config
from bot.store.models import NAME_SEARCH_FTS, NAME_SEARCH_TRGM_INDEX, Contact

NOW = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)


def names(store: Store, query: str, limit: int = 20) -> list[str | None]:
    with store.session() as session:
        return [c.name for c in contacts.search_contacts(session, query, limit)]


def varied_name(i: int) -> str:
    """Names as varied as real ones, so the planner's statistics are those of a real list."""
    return f"Pessoa {hashlib.sha256(str(i).encode()).hexdigest()[:10]}"


def bulk_contacts(store: Store, count: int, start: int = 1, *, varied: bool = False) -> None:
    """Rows written below the ORM in one executemany, as bench.seed (and any bulk import) does."""
    rows = [
        {
            "id": i,
            "phone_key": f"+55119{i:08d}",
            "e164": f"+55119{i:08d}",
            "name": name,
            "name_search": name.lower(),
            "created_at": NOW,
            "updated_at": NOW,
        }
        for i in range(start, start + count)
        for name in [varied_name(i) if varied else f"Cliente {i}"]
    ]
    with store.session() as session:
        session.execute(insert(Contact), rows)
    if store.dialect == "postgresql":
        with store.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE contacts")  # what autovacuum does on a live database


@contextmanager
def statements(store: Store) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (with their parameters) the store sends while the block runs."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def substring_plan(store: Store, query: str, limit: int) -> str:
    """The plan of the substring query `search_contacts` runs for `query` (its second SELECT)."""
    with statements(store) as seen, store.session() as session:
        contacts.search_contacts(session, query, limit)
    selects = [(sql, params) for sql, params in seen if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) >= 2, "the prefix query filled the limit: no substring query to explain"
    sql, params = selects[-1]
    explain = "EXPLAIN QUERY PLAN " if store.dialect == "sqlite" else "EXPLAIN "
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql(explain + sql, params).all()
    return "\n".join(str(row[-1]) for row in rows)


def test_a_name_substring_is_found_through_the_trigram_index(store: Store) -> None:
    bulk_contacts(store, 20_000, varied=True)
    # One prefix hit, so the substring query runs for the rest (the screen asks for 2).
    plan = substring_plan(store, varied_name(12345), limit=2)
    if store.dialect == "sqlite":
        assert f"SCAN {NAME_SEARCH_FTS} VIRTUAL TABLE INDEX" in plan, plan
        assert "SEARCH contacts USING INTEGER PRIMARY KEY" in plan, plan
    else:
        assert NAME_SEARCH_TRGM_INDEX in plan, plan
    assert names(store, varied_name(12345), limit=2) == [varied_name(12345)]
    middle = varied_name(777)[9:14]  # five characters from inside the name
    expected = sorted(varied_name(i) for i in range(1, 20_001) if middle in varied_name(i))
    assert names(store, middle.upper(), limit=100) == expected[:100]


def test_prefix_matches_are_kept_first_then_substrings_by_name(store: Store) -> None:
    with store.session() as session:
        for n, name in enumerate(["Ana Souza", "Mariana Lima", "Ana Paula", "Luana Ana", "Joana"]):
            contacts.upsert_contact(session, e164=f"+55119888870{n:02d}", name=name, now=NOW)
    # Both prefix matches are kept even when substrings sort before them...
    assert names(store, "ana", limit=2) == ["Ana Paula", "Ana Souza"]
    # ...then the substrings fill the rest; everything ordered by name.
    assert names(store, "ana") == ["Ana Paula", "Ana Souza", "Joana", "Luana Ana", "Mariana Lima"]
    assert names(store, "ANA L") == ["Mariana Lima"]
    assert names(store, 'a "p') == []  # quotes are literal, never FTS syntax
    assert names(store, "na") == ["Ana Paula", "Ana Souza", "Joana", "Luana Ana", "Mariana Lima"]  # < 3 chars


def test_the_index_follows_renames_deletes_and_the_ingestion_path(store: Store) -> None:
    with store.session() as session:
        contact = contacts.upsert_contact(session, wa_id="5511988887777", name="Maria", now=NOW, at=NOW)
        contact_id = contact.id
    assert names(store, "aria") == ["Maria"]
    with store.session() as session:  # a newer event names the contact anew
        contacts.upsert_contact(
            session, wa_id="5511988887777", name="Josefina Ávila", now=NOW, at=NOW.replace(hour=20)
        )
    assert names(store, "aria") == []
    assert names(store, "efina ávi") == ["Josefina Ávila"]
    with store.session() as session:  # written below the ORM: the triggers still see it
        session.execute(update(Contact).where(Contact.id == contact_id).values(name_search=None))
    assert names(store, "efina") == []
    with store.session() as session:
        session.execute(update(Contact).where(Contact.id == contact_id).values(name_search="josefina avila"))
        session.execute(delete(Contact).where(Contact.id == contact_id))
    assert names(store, "efina") == []
    bulk_contacts(store, 3, start=100)
    assert names(store, "ente 10") == ["Cliente 100", "Cliente 101", "Cliente 102"]


def _migrate_to(store: Store, revision: str) -> None:
    with store.engine.connect() as connection:
        command.upgrade(alembic_config(connection), revision)
        connection.commit()


def test_contacts_from_before_the_migration_are_indexed_by_it(db_url: str) -> None:
    store = Store.from_url(db_url)
    try:
        _migrate_to(store, "0004_hardening")
        bulk_contacts(store, 20_000, varied=True)
        store.migrate()
        if store.dialect == "postgresql":
            with store.engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE contacts")
        plan = substring_plan(store, varied_name(12345), limit=2)
        assert (NAME_SEARCH_FTS if store.dialect == "sqlite" else NAME_SEARCH_TRGM_INDEX) in plan, plan
        assert names(store, varied_name(12345)[3:]) == [varied_name(12345)]
    finally:
        store.dispose()


def test_without_rights_to_create_pg_trgm_the_migration_succeeds_and_the_search_scans(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A managed PostgreSQL where the app's role may not create extensions: the migration warns
    and goes on, and the search answers the same without the index."""
    role = f"contato_limited_{uuid.uuid4().hex[:8]}"
    admin = Store.from_url(pg_url)
    with admin.engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        # It may create tables, but it is not the database's owner and has no CREATE on the
        # database: CREATE EXTENSION is refused (even for a trusted extension like pg_trgm).
        connection.exec_driver_sql(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
        connection.commit()
    limited = Store.from_url(pg_url.replace("postgres@", f"{role}@"))
    try:
        with caplog.at_level(logging.WARNING, logger="bot.store.migrations"):
            limited.migrate()
        assert any("pg_trgm" in record.getMessage() for record in caplog.records)
        with limited.engine.connect() as connection:
            assert limited.migration_state()[0] == limited.migration_state()[1]
            indexes = (
                connection.exec_driver_sql("SELECT indexname FROM pg_indexes WHERE tablename = 'contacts'")
                .scalars()
                .all()
            )
        assert NAME_SEARCH_TRGM_INDEX not in indexes
        bulk_contacts(limited, 50)
        assert names(limited, "ente 42") == ["Cliente 42"]
        assert names(limited, "Cliente 4", limit=3) == ["Cliente 4", "Cliente 40", "Cliente 41"]
    finally:
        limited.dispose()
        with admin.engine.connect() as connection:
            connection.exec_driver_sql(f"DROP OWNED BY {role}")
            connection.commit()
        admin.dispose()
        with Store.from_url(pg_url.rsplit("/", 1)[0] + "/test").engine.connect() as connection:
            connection.exec_driver_sql(f"DROP ROLE {role}")
            connection.commit()


def test_a_sqlite_without_the_fts_table_still_searches(sqlite_url: str) -> None:
    """What a SQLite without FTS5 trigrams (older than 3.34) is left with: the scan, same answers."""
    store = Store.from_url(sqlite_url)
    try:
        store.migrate()
        with store.engine.connect() as connection:
            for trigger in ("ai", "ad", "au"):
                connection.exec_driver_sql(f"DROP TRIGGER {NAME_SEARCH_FTS}_{trigger}")
            connection.exec_driver_sql(f"DROP TABLE {NAME_SEARCH_FTS}")
            connection.commit()
        bulk_contacts(store, 50)
        assert "SCAN contacts" in substring_plan(store, "ente 42", limit=2)
        assert names(store, "ente 42") == ["Cliente 42"]
        assert names(store, "Cliente 4", limit=3) == ["Cliente 4", "Cliente 40", "Cliente 41"]
    finally:
        store.dispose()
